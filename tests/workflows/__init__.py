"""Time-skipping workflow tests.

Modules that define workflows for tests (`*_fakes.py`) are deliberately not named `test_*.py`:
pytest rewrites test modules with the `ast` module, and CPython 3.11.7 can fail that with
"AST constructor recursion depth mismatch" when two sandboxed workflow threads import the same
module at once (fixed upstream in 3.11.8, gh-106905).
"""
