"""Little Data Lab: the entry point (`streamlit run streamlit_app.py`)."""

import streamlit as st

import labui
from core.i18n import _

st.set_page_config(page_title="Little Data Lab", page_icon=":material/science:", layout="wide")
labui.resolve_language()

page = st.navigation(
    [
        st.Page("pages/home.py", title=_("Overview"), icon=":material/home:", default=True),
        st.Page("pages/guide.py", title=_("Guide"), icon=":material/school:"),
        st.Page("pages/data.py", title=_("Data"), icon=":material/folder_open:"),
        st.Page("pages/augment.py", title=_("Augment"), icon=":material/tune:"),
        st.Page("pages/train.py", title=_("Train"), icon=":material/model_training:"),
        st.Page("pages/compare.py", title=_("Compare"), icon=":material/leaderboard:"),
        st.Page("pages/predict.py", title=_("Predict"), icon=":material/image_search:"),
    ]
)
labui.start_up()
labui.sidebar()
page.run()
