"""The one conftest of dplb's tests, at the root of tests/.

pytest.ini at the repository root makes it the rootdir from wherever pytest
is run and puts tests/ on the import path, so every test imports its
helpers as harness.* (tests/harness) and no test edits sys.path.
"""

import os


def pytest_report_header(config):
    return f"dplb build: {os.environ.get('DPLB_BUILD', 'build')} (DPLB_BUILD)"
