"""The verified leaderboard: students upload ONNX files, the server checks them, evaluates them
itself on labels it never shows (accuracy, and speed at batch size 4 under one protocol), and
ranks them. Nothing uploaded is ever executed as Python.

Needs the `leaderboard` extra (FastAPI, Uvicorn, SQLAlchemy 2, Alembic, Jinja2)."""
