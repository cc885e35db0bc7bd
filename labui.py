"""Shared UI helpers for the pages: session-state keys and cached wrappers.

Pages import this module; core never does. Keys that must survive a page
change live in keys no widget owns (Streamlit drops a widget's state when its
page is left).
"""

# Cross-page state (no widget owns these keys).
ACTIVE_DATASET = "ldl_active_dataset"  # "demo" or a dataset folder path (str)
ACTIVE_AUGMENT = "ldl_active_augment"  # AugmentConfig as JSON (str)
