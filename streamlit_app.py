"""Little Data Lab: the entry point (`streamlit run streamlit_app.py`)."""

import streamlit as st

import labui

st.set_page_config(page_title="Little Data Lab", page_icon="🔬", layout="wide")

page = st.navigation(
    [
        st.Page("pages/home.py", title="Overview", icon="🏠", default=True),
        st.Page("pages/data.py", title="Data", icon="🗂️"),
        st.Page("pages/augment.py", title="Augment", icon="🎛️"),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
        st.Page("pages/compare.py", title="Compare", icon="📊"),
        st.Page("pages/predict.py", title="Predict", icon="🔮"),
    ]
)
labui.sidebar()
page.run()
