"""Little Data Lab: the entry point (`streamlit run streamlit_app.py`)."""

import streamlit as st

import labui

st.set_page_config(page_title="Little Data Lab", page_icon=":material/science:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/home.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/folder_open:"),
        st.Page("pages/augment.py", title="Augment", icon=":material/tune:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
    ]
)
labui.start_up()
labui.sidebar()
page.run()
