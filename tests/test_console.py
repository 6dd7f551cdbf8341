import io

from tinyml_cli.console import Ui


def test_long_errors_and_warnings_stay_on_one_line():
    stream = io.StringIO()
    ui = Ui(stream=stream)
    ui.error("x" * 400)
    ui.warn("y" * 400)
    assert stream.getvalue().count("\n") == 2
