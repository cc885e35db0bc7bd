"""Little Data Lab core: datasets, augmentation, models, training, runs, prediction.

This package never imports streamlit: the pages in `pages/` call into it, and
so does the command line (`python -m core ...`).
"""
