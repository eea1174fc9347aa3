"""Shared pytest configuration of the eql-stream test suite.

pytest puts this folder on sys.path before it reads this file (rootdir conftest,
default "prepend" import mode), so plugin modules next to it import by plain name.
"""

pytest_plugins = ["kafka_broker"]
