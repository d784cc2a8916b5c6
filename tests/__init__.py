"""The test suite. A package, so the folders share tests/helpers.py as ``tests.helpers``
(pyproject.toml's ``pythonpath = ["."]`` puts the repository on ``sys.path``); a folder's own
helper modules (e.g. tests/training/training_helpers.py) are imported by their unique names,
as pytest puts each test folder without an ``__init__.py`` on ``sys.path``."""
