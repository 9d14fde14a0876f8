"""The lectures as a static HTML site: ``cnncourse site`` (see ``build``)."""

from cnncourse.tools.site.build import BUDGETS, COURSE_TITLE, DEFAULT_OUT, MARKER, LectureError, Page, Site, build

__all__ = ["build", "Page", "Site", "LectureError", "BUDGETS", "DEFAULT_OUT", "COURSE_TITLE", "MARKER"]
