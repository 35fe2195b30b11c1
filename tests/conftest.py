"""Start the slow end-to-end workflow tests first, so that under `pytest -n 2` one worker runs
them while the other works through the unit tests."""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: 0 if item.get_closest_marker("workflow") else 1)
