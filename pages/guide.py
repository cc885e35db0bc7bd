"""Guide: the blog post's steps in order, each one a click in the lab, with its result."""

import streamlit as st

import labui
from core import guide, runner
from core.backbones import BACKBONES
from core.i18n import _, format_accuracy
from core.paths import PROJECT_ROOT

PAGES = PROJECT_ROOT / "pages"

st.title(_("Guide"))
st.markdown(
    _(
        "The blog post's steps in order. Each step says what it does and why, puts the blog's "
        "setting beside the lab's and does the step in one click; its result appears here "
        "when its run finishes, beside the blog's figure."
    )
)
store = labui.run_store()
spec = labui.active_dataset()
backbone = guide.guide_backbone()
network = BACKBONES[backbone].label


def page(name: str, title: str):
    return st.Page(PAGES / f"{name}.py", title=title)  # as the shell names it


def link(name: str, title: str, label: str) -> None:
    st.page_link(page(name, title), label=label, icon=":material/arrow_forward:")


def queue(action) -> None:
    with labui.errors_shown(_("Queueing the run")):
        action()
        st.rerun()  # every step's state is drawn anew


def results() -> list:
    return [guide.step_result(store, step, spec, backbone) for step in guide.STEPS]


def show_result(step, result) -> None:
    """A finished run's accuracy beside the blog's figure, or the run's state."""
    blog = step.blog_figure_text
    if result is None:
        st.caption(_("Not run yet. The blog reached {blog}.").format(blog=blog))
    elif result.finished:
        accuracy = format_accuracy(result.accuracy, result.ci_low, result.ci_high, result.n)
        st.success(
            _("Run #{id}: validation accuracy {accuracy}. The blog: {blog}.").format(
                id=result.run_id, accuracy=accuracy, blog=blog
            )
        )
    else:
        st.info(_(guide.STATE_SENTENCES[result.status]).format(id=result.run_id))
        link("train", _("Train"), _("Follow it on the Train page"))


def data_step(step) -> None:
    folder = guide.known_cats_vs_dogs()
    if folder is not None and str(folder) == spec:
        st.success(_("Cats vs Dogs is the active dataset."))
    elif folder is not None:
        if st.button(_(step.button), key="guide_data", type="primary"):
            labui.set_active_dataset(str(folder))
            labui.forget_dataset(str(folder))
            st.rerun()
    else:
        st.info(
            _(
                "Cats vs Dogs is not here yet: download it on the Data page ('Download Cats vs "
                "Dogs'), or open any folder laid out the same way. Until then the steps run on "
                "the active dataset, {name}."
            ).format(name=labui.dataset_label(spec))
        )
        link("data", _("Data"), _("Open the Data page"))


def augment_step(step) -> None:
    if st.button(_(step.button), key="guide_augment"):
        labui.set_active_augment(guide.blog_augment().to_json())
        st.switch_page(page("augment", _("Augment")))
    if labui.active_augment() == guide.blog_augment():
        st.caption(_("The blog's augmentation is the active one."))


def run_step(step) -> None:
    top_run = guide.finetune_top_run(store, spec, backbone)
    waiting = step.method == "finetune" and top_run is None
    if st.button(_(step.button), key=f"guide_{step.key}", disabled=waiting):
        queue(lambda: runner.enqueue(guide.run_config(step, spec, backbone, top_run), store))
    if waiting:
        st.caption(_("Finish step 4 first: fine-tuning starts from its top model."))
    show_result(step, guide.step_result(store, step, spec, backbone))


def next_step(_step) -> None:
    native = guide.native_config(spec, backbone)
    left, middle, right = st.columns(3)
    label = _("Bottleneck features at {size} px").format(size=native.image_size)
    if left.button(label, key="guide_native"):
        queue(lambda: runner.enqueue(native, store))
    left.caption(_("Step 4 at the size the network's weights were trained at."))
    result = guide.latest_result(store.list_runs(), native)
    if result is not None and result.finished:
        left.caption(format_accuracy(result.accuracy, result.ci_low, result.ci_high, result.n))
    label = _("{k}-fold cross-validation of step 4").format(k=guide.KFOLD_FOLDS)
    if middle.button(label, key="guide_kfold"):
        kfold = guide.kfold_config(spec, backbone)
        queue(lambda: runner.queue_cv(kfold, guide.KFOLD_FOLDS, store))
    middle.caption(_("Each run validates on another part of the pictures: a mean and its spread."))
    with right:
        link("compare", _("Compare"), _("Is one run really better?"))
        st.caption(_("Compare's paired test says whether a gap between two runs could be chance."))


ACTIONS = {"dataset": data_step, "augment": augment_step, "run": run_step, "next": next_step}
for number, step in enumerate(guide.STEPS, start=1):
    with st.container(border=True, key=f"guide_step_{step.key}"):
        st.subheader(f"{number}. {_(step.title)}")
        st.markdown(_(step.text))
        lab = _(step.lab).format(network=network)
        st.markdown(
            _("**The blog:** {blog}  \n**This lab:** {lab}").format(blog=_(step.blog), lab=lab)
        )
        with labui.errors_shown(_("This step")):
            ACTIONS[step.action](step)

drawn = results()


@st.fragment(run_every=3 if any(r and r.active for r in drawn) else None)
def follow() -> None:
    """While a step's run is queued or running, redraw the page when its state changes."""
    if results() != drawn:
        st.rerun()


follow()
