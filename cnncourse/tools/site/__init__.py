"""The lectures as a static HTML site: ``cnncourse site`` (see ``build``).

The modules: ``build`` (orchestration: inputs, staging, the atomic move),
``execute`` (the lectures' kernels), ``pages`` (one notebook as one page, the
smoke banner), ``index`` (index.html), ``widgets`` (static widget snapshots).
"""

from cnncourse.tools.site.build import BUDGETS, COURSE_TITLE, DEFAULT_OUT, MARKER, LectureError, Page, Site, build

__all__ = ["build", "Page", "Site", "LectureError", "BUDGETS", "DEFAULT_OUT", "COURSE_TITLE", "MARKER"]
