"""Overview: what the lab does, the blog's three methods and its reference numbers."""

import streamlit as st

import labui
from core.runs_view import blog_reference_table

st.title("Little Data Lab")
st.markdown(
    "Build a strong image classifier from **very little data**: a couple of thousand "
    "pictures. This lab turns François Chollet's Keras blog post *Building powerful image "
    "classification models using very little data* into something you can run, tune and "
    "compare in the browser."
)

st.subheader("How to use it")
st.markdown(
    "1. **Data**: pick a dataset (the synthetic demo, a folder, a zip, or Cats vs Dogs) "
    "and check its health.\n"
    "2. **Augment**: tune the random transformations and see them on your images.\n"
    "3. **Train**: pick one of the three methods below and watch it learn, live.\n"
    "4. **Compare**: put runs side by side, with confidence intervals and the mistakes.\n"
    "5. **Predict**: try the trained models on new images and see where they look."
)

st.subheader("The three methods")
for number, (title, text) in enumerate(labui.METHODS.values(), start=1):
    st.markdown(f"**{number}. {title}.** {text}")

st.subheader("The blog's numbers")
st.caption(
    "Validation accuracy on 2,000 training and 800 validation photos of cats and dogs "
    "(the blog used VGG16 as the pretrained network)."
)
st.dataframe(blog_reference_table(), hide_index=True, key="home_reference")
