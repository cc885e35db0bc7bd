"""The remembered dataset and augmentation, in the app home."""

from core.preferences import Preferences, load_preferences, preferences_path, save_preferences


def test_nothing_saved_gives_the_demo():
    assert load_preferences() == Preferences()


def test_choices_survive_a_new_load(tmp_path):
    (tmp_path / "pets").mkdir()
    save_preferences(Preferences(dataset=str(tmp_path / "pets"), augment='{"zoom": 0.2}'))
    prefs = load_preferences()
    assert (prefs.dataset, prefs.augment, prefs.note) == (
        str(tmp_path / "pets"), '{"zoom": 0.2}', None
    )  # fmt: skip


def test_a_vanished_dataset_falls_back_to_the_demo_with_a_note(tmp_path):
    save_preferences(Preferences(dataset=str(tmp_path / "gone"), augment='{"zoom": 0.2}'))
    prefs = load_preferences()
    assert prefs.dataset == "demo" and prefs.augment == '{"zoom": 0.2}'
    assert str(tmp_path / "gone") in prefs.note and "demo" in prefs.note


def test_an_unreadable_file_gives_the_defaults():
    preferences_path().write_text("{not json")
    assert load_preferences() == Preferences()
