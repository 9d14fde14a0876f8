"""The course in a real JupyterLab, driven through Debian's Chromium with Playwright.

Scope: JupyterLab is started once for the module through the README's own
command (``make course``, on a free port with a token), serving a copy of the
course in a temporary folder, so nothing in the repository is written. Then:

- a student notebook from ``release/`` opens and "Run All" runs; it stops at the
  first graded test, which shows the failure in the page; a wrong answer typed
  into the answer cell gets the test's own assertion message;
- nbgrader's Validate button reports failing tests on the untouched student
  notebook and success on the instructor notebook;
- the interactive convolution demo of lecture 1 renders, and moving its stride
  slider redraws the picture;
- the static HTML site of the lectures opens from disk and a lecture page shows
  its title and a figure.

Screenshots of each land in build/screenshots/ (or $CNNCOURSE_SCREENSHOTS), and
one of the failing page when a test fails. Without Chromium or Playwright the
module is skipped with a message saying how to get them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_helpers import CHROMIUM_ARGS, Lab, cell_with, chromium_path, choose_menu_item, copy_course
from browser_helpers import first_graded_test, missing_tools, notebook_cells, open_notebook, prompt
from browser_helpers import screenshot_dir, start_lab, stop_lab, wait_for_idle_kernel

_MISSING = missing_tools()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402  (known to exist now)

pytestmark = pytest.mark.slow

STUDENT = "release/01_conv_arithmetic/conv_arithmetic.ipynb"
INSTRUCTOR = "source/01_conv_arithmetic/conv_arithmetic.ipynb"
LECTURE = "course/01_convolution_arithmetic.ipynb"
# A plausible wrong answer to Task 1 (padding forgotten) and the first assertion message it meets.
WRONG_ANSWER = ("raise NotImplementedError()", "return (n - kernel_size) // stride + 1")
WRONG_ANSWER_MESSAGE = "conv_output_size(32, 5, stride=2, padding=1) should be 15, got 14"
VIEWPORT = {"width": 1440, "height": 960}
RUN_S = 180  # "Run All" or one cell of a smoke-budget notebook
VALIDATE_S = 300  # nbgrader validate executes the whole notebook on the server
UI_S = 30  # anything the page does by itself


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab from `make course`, serving a copy of the course; stopped (process group) afterwards."""
    root = copy_course(tmp_path_factory.mktemp("course"))
    server = start_lab(root, tmp_path_factory.mktemp("jupyter-home"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's binary) under Playwright."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    """The screenshot folder."""
    return screenshot_dir()


@pytest.fixture()
def page(browser: Browser, shots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; when the test fails, a screenshot of it is saved as failed-<test>.png."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(UI_S * 1000)
    failed_before = request.session.testsfailed
    try:
        yield tab
    finally:
        if request.session.testsfailed > failed_before:
            try:
                tab.screenshot(path=shots / f"failed-{request.node.name}.png")
            except Exception as err:  # the page may be gone; the test's own failure is what matters
                print(f"no screenshot of the failed page: {err}")
        context.close()


def collapse_left_sidebar(page: Page) -> None:
    """Close JupyterLab's left sidebar (file browser) by clicking its open tab, for a tidy screenshot."""
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()


def scroll_to_bottom_of(locator: Locator) -> None:
    """Scroll the notebook so that the bottom of ``locator`` sits just above the bottom of the window."""
    locator.evaluate("element => { element.scrollIntoView({block: 'end'});"
                     " const notebook = element.closest('.jp-WindowedPanel-outer');"
                     " if (notebook) notebook.scrollTop += 24; }")


# --- a student notebook: Run All, then a wrong answer ---------------------------------------


def test_student_notebook_run_all_stops_at_the_first_test_with_its_message(lab: Lab, page: Page, shots: Path):
    """Run All on the untouched student notebook stops at the first graded test, which shows the
    NotImplementedError of the answer stub; a wrong answer then gets the test's assertion message."""
    cells_json = notebook_cells(STUDENT)
    test_index = first_graded_test(cells_json)
    answer_index = test_index - 1
    answer = cells_json[answer_index]["source"]
    is_answer = cells_json[answer_index].get("metadata", {}).get("nbgrader", {}).get("solution")
    assert is_answer and WRONG_ANSWER[0] in answer, (
        f"cell {answer_index} of {STUDENT} should be the answer cell of the first test with {WRONG_ANSWER[0]!r}; "
        "the notebook changed: update WRONG_ANSWER in this test")
    assert WRONG_ANSWER_MESSAGE.replace("got 14", "got {out}") in cells_json[test_index]["source"], (
        f"the first test of {STUDENT} should hold the message {WRONG_ANSWER_MESSAGE!r}; the notebook changed: "
        "update WRONG_ANSWER_MESSAGE in this test")

    cells = open_notebook(page, lab, lab.copy(STUDENT, "alice"), "student-run-all", len(cells_json))
    choose_menu_item(page, "Run", "Run All Cells")
    test_cell = cells.nth(test_index)
    test_output = test_cell.locator(".jp-Cell-outputArea")
    expect(test_output, f"Run All: the first graded test (cell {test_index}) should fail with NotImplementedError "
                        "from the answer stub").to_contain_text("NotImplementedError", timeout=RUN_S * 1000)
    wait_for_idle_kernel(page, "after Run All", RUN_S)
    expect(test_output, "the traceback should point at the answer stub's '# YOUR CODE HERE'").to_contain_text(
        "YOUR CODE HERE")
    code = [index for index, cell in enumerate(cells_json) if cell["cell_type"] == "code"]
    prompts = {index: prompt(cells.nth(index)) for index in code}
    not_run = [index for index in code if index <= test_index and not re.fullmatch(r"\[\d+\]:", prompts[index])]
    assert not not_run, (f"Run All should run every code cell up to the first test; cells {not_run} show "
                         f"{[prompts[i] for i in not_run]}")
    ran_after = [index for index in code if index > test_index and prompts[index] != "[ ]:"]
    assert not ran_after, (f"Run All should stop at the failing test (cell {test_index}); cells after it ran: "
                           f"{[(i, prompts[i]) for i in ran_after]}")
    scroll_to_bottom_of(test_output)
    page.screenshot(path=shots / "student-run-all.png")

    # The student writes a wrong formula into the answer cell and runs it, then the test.
    cells.nth(answer_index).locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(answer.replace(*WRONG_ANSWER))
    page.keyboard.press("Shift+Enter")  # run the answer, move to the test
    page.keyboard.press("Control+Enter")  # run the test, stay on it
    expect(test_output, "a wrong answer should get the first test's own assertion message").to_contain_text(
        f"AssertionError: {WRONG_ANSWER_MESSAGE}", timeout=RUN_S * 1000)
    expect(test_output).not_to_contain_text("NotImplementedError")
    wait_for_idle_kernel(page, "after running the wrong answer and its test", RUN_S)
    collapse_left_sidebar(page)
    scroll_to_bottom_of(test_output)
    page.screenshot(path=shots / "student-notebook.png")


# --- nbgrader's Validate button ---------------------------------------------------------------


def validate(page: Page, lab: Lab, path: str, workspace: str, expected_cells: int) -> Locator:
    """Open ``path``, press the toolbar's Validate button, return the result dialog's message element."""
    open_notebook(page, lab, path, workspace, expected_cells)
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    try:
        expect(message).to_be_visible(timeout=VALIDATE_S * 1000)
    except AssertionError:
        raise AssertionError(f"Validate on {path} should open nbgrader's result dialog within {VALIDATE_S} s, "
                             f"none appeared; server log:\n{lab.log_tail()}") from None
    return message


def test_validate_reports_failing_tests_on_the_untouched_student_notebook(lab: Lab, page: Page, shots: Path):
    """Validate on the student notebook as released lists failed tests, the first one among them."""
    cells_json = notebook_cells(STUDENT)
    first_test = cells_json[first_graded_test(cells_json)]["source"].splitlines()[0]
    message = validate(page, lab, lab.copy(STUDENT, "bob"), "validate-student", len(cells_json))
    page.screenshot(path=shots / "validate-student.png")
    text = message.inner_text()
    assert "validation-failed" in (message.get_attribute("class") or ""), (
        f"Validate on the untouched student notebook should report failed tests, the dialog says: {text[:500]!r}")
    assert first_test in text and "NotImplementedError" in text, (
        f"the dialog should list the first test ({first_test}) as failed with NotImplementedError; "
        f"it says: {text[:800]!r}")
    graded = [cell.get("metadata", {}).get("nbgrader", {}) for cell in cells_json if cell["cell_type"] == "code"]
    tests = sum(1 for meta in graded if meta.get("grade") and not meta.get("solution"))
    failed = text.count("The following cell failed:")
    assert failed >= tests, (f"every one of the {tests} autograded tests should fail on the untouched notebook; "
                             f"the dialog lists {failed} failed cells")


def test_validate_reports_success_on_the_instructor_notebook(lab: Lab, page: Page, shots: Path):
    """Validate on the instructor notebook (solutions in place) reports that every test passes."""
    message = validate(page, lab, lab.copy(INSTRUCTOR, "instructor"), "validate-instructor",
                       len(notebook_cells(INSTRUCTOR)))
    page.screenshot(path=shots / "validate-instructor.png")
    text = message.inner_text()
    assert "validation-success" in (message.get_attribute("class") or ""), (
        f"Validate on the instructor notebook should succeed, the dialog says: {text[:1500]!r}")
    assert "Success! Your notebook passes all the tests." in text, f"unexpected success message: {text[:500]!r}"


# --- lecture 1's interactive demo ---------------------------------------------------------------


def test_lecture_demo_redraws_when_the_stride_slider_moves(lab: Lab, page: Page, shots: Path):
    """The convolution demo of lecture 1 shows its sliders and picture; one step of the stride slider
    changes the slider's value and the picture."""
    cells_json = notebook_cells(LECTURE)
    demo_index = cell_with(cells_json, "explore_sliding_window()")
    cells = open_notebook(page, lab, lab.copy(LECTURE, "lectures"), "lecture-demo", len(cells_json))
    demo = cells.nth(demo_index)
    demo.locator(".jp-InputArea-prompt").first.click()  # select the demo's cell (command mode)
    choose_menu_item(page, "Run", "Run All Above Selected Cell")
    page.keyboard.press("Control+Enter")  # then the demo itself
    picture = demo.locator(".widget-output img")
    expect(picture, f"the demo (cell {demo_index}) should draw its picture").to_be_visible(timeout=RUN_S * 1000)
    for label in ("stride s", "padding p", "dilation d"):
        slider = demo.locator(".widget-slider", has_text=label)
        expect(slider, f"the demo should have a {label!r} slider").to_be_visible()
    wait_for_idle_kernel(page, "after drawing the demo", RUN_S)
    output = demo.locator(".jp-Cell-outputArea")
    scroll_to_bottom_of(output)
    output.screenshot(path=shots / "lecture-demo-before.png")
    before = picture.get_attribute("src") or ""
    assert before.startswith("data:image/png"), (
        f"the demo's picture should be a PNG image, its src starts {before[:40]!r}")

    stride = demo.locator(".widget-slider", has_text="stride s").get_by_role("slider")
    old_value = stride.get_attribute("aria-valuenow")
    stride.focus()
    page.keyboard.press("ArrowRight")
    expect(stride, f"ArrowRight on the stride slider should move it from {old_value}").not_to_have_attribute(
        "aria-valuenow", old_value or "")
    try:
        page.wait_for_function("([cell, old]) => { const img = cell.querySelector('.widget-output img');"
                               " return img !== null && img.src !== old; }",
                               arg=[demo.element_handle(), before], timeout=RUN_S * 1000)
    except Exception:
        raise AssertionError(f"moving the stride slider to {stride.get_attribute('aria-valuenow')} should redraw "
                             f"the picture within {RUN_S} s; it did not change") from None
    wait_for_idle_kernel(page, "after the redraw", RUN_S)
    expect(picture).to_be_visible()
    output.screenshot(path=shots / "lecture-demo-after.png")


# --- the static site of the lectures ------------------------------------------------------------


def test_lecture_site_page_opens(site_dir: Path, page: Page, shots: Path):
    """index.html of the static site opens from disk, links to a lecture page, and that page shows
    the lecture's title as its heading and at least one figure that loaded."""
    index = site_dir / "index.html"
    assert index.is_file(), f"the site should have {index}, it does not"
    page.goto(index.as_uri())
    links = page.locator('a[href^="course/"]')
    assert links.count() > 0, f"{index} should link to the lecture pages (course/*.html), it has no such link"
    link = links.first
    title = link.inner_text().strip()
    href = link.get_attribute("href")
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(href or "?"), f"the link to {href!r} should open that page, the browser is at {page.url}"
    heading = page.locator("h1").first
    expect(heading, f"the lecture page {href} should show its title {title!r}").to_contain_text(title)
    loaded = page.evaluate("() => { const shown = Array.from(document.images).filter("
                           "img => img.complete && img.naturalWidth > 0);"
                           " if (shown.length) shown[0].scrollIntoView({block: 'center'}); return shown.length; }")
    assert loaded > 0, (f"the lecture page {href} should show at least one figure; "
                        f"none of its {page.locator('img').count()} images loaded")
    page.screenshot(path=shots / "lecture-site.png")


def test_lecture_page_has_banner_revealable_answer_and_a_code_drawn_diagram(site_dir: Path, page: Page, shots: Path):
    """Lecture 5's page shows the smoke-budget banner, an exercise answer that opens on a click, and the
    residual-block diagram drawn by the cell that defines draw_residual_block_and_shortcuts."""
    lecture = site_dir / "course" / "05_resnet.html"
    assert lecture.is_file(), f"the site should have {lecture}, it does not"
    page.goto(lecture.as_uri())
    banner = page.locator(".cnncourse-banner").first
    expect(banner, "a page built in the smoke budget should show the banner").to_be_visible()
    expect(banner, "the banner should say which budget built the page").to_contain_text("smoke")
    details = page.locator("details").first
    details.scroll_into_view_if_needed()
    closed = details.inner_text().strip()  # a closed <details> renders its summary only
    assert closed == "Answer", f"an exercise's answer should be hidden until the reader opens it; shown: {closed[:80]!r}"
    details.locator("summary").click()
    expect(details, "clicking 'Answer' should open the exercise's answer").to_have_attribute("open", "")
    opened = details.inner_text().strip()
    assert len(opened) > len(closed) + 10, f"the opened answer should show its text, it shows {opened[:80]!r}"
    page.screenshot(path=shots / "lecture-exercise-answer.png")
    cell = page.locator(".jp-Cell", has_text="def draw_residual_block_and_shortcuts").first
    expect(cell, "lecture 5 should have the cell that draws the residual block").to_have_count(1)
    drawn = cell.locator(".jp-OutputArea img").first
    drawn.scroll_into_view_if_needed()
    loaded = drawn.evaluate("img => img.complete && img.naturalWidth > 0")
    assert loaded, "the residual-block diagram drawn by code should show as a loaded image under its cell"
    page.screenshot(path=shots / "lecture-diagram.png")
