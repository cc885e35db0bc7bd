"""Overview: what the lab does, the blog's three methods, its numbers and the lab's own."""

import streamlit as st

import labui
from core.i18n import _
from core.lab_results import measured_table
from core.paths import PROJECT_ROOT
from core.runs_view import lab_vs_blog_table
from core.train_config import BLOG_METHODS

BLOG = "https://blog.keras.io/building-powerful-image-classification-models-using-very-little-data.html"

st.title("Little Data Lab")
st.markdown(
    _(
        "Build a strong image classifier from **very little data**: a couple of thousand "
        "pictures. This lab turns François Chollet's Keras blog post "
        "[*Building powerful image classification models using very little data*]({url}) "
        "into something you can run, tune and compare in the browser."
    ).format(url=BLOG)
)
with st.container(border=True):
    st.markdown(_("**New here?** Start with the data, then follow the pages from top to bottom."))
    data_page = st.Page(PROJECT_ROOT / "pages" / "data.py", title=_("Data"))  # as the shell has it
    st.page_link(data_page, label=_("Start here: pick a dataset"), icon=":material/arrow_forward:")
    guide_page = st.Page(PROJECT_ROOT / "pages" / "guide.py", title=_("Guide"))
    st.page_link(
        guide_page,
        label=_("Or follow the blog post step by step in the Guide"),
        icon=":material/school:",
    )

st.subheader(_("The blog's numbers, and this lab's"))
st.caption(
    _(
        "Validation accuracy on the blog's 2,000 training and 800 validation photos of cats "
        "and dogs. The blog used VGG16; the lab's own run (bench/blog_table.py on a 2-core "
        "CPU) used MobileNetV2, whose ImageNet weights were at hand. The interval is the 95% "
        "Wilson interval over the 800 validation images; the small CNN's final epoch swings "
        "from seed to seed, so its figure is the mean over three seeds, with the 95% interval "
        "of that mean."
    )
)
st.dataframe(lab_vs_blog_table(measured_table()), hide_index=True, key="home_reference")

st.subheader(_("How to use it"))
st.markdown(
    _(
        "1. **Data**: pick a dataset (the synthetic demo, a folder, a zip, or Cats vs Dogs) "
        "and check its health.\n"
        "2. **Augment**: tune the random transformations and see them on your images.\n"
        "3. **Train**: pick one of the three methods below and watch it learn, live.\n"
        "4. **Compare**: put runs side by side, with confidence intervals and the mistakes.\n"
        "5. **Predict**: try the trained models on new images and see where they look."
    )
)

st.subheader(_("The three methods"))
for number, method in enumerate(BLOG_METHODS, start=1):
    title, text = labui.method_words(method)
    st.markdown(f"**{number}. {title}.** {text}")
