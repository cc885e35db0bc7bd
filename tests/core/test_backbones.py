"""The backbone registry: weights resolution, preprocessing, fine-tuning boundaries."""

import numpy as np
import pytest

from core import backbones
from core.errors import WeightsError

# (backbone, small size that builds fast, name of the first layer of its last block)
STRUCTURES = [
    ("vgg16", 32, "block5_conv1"),
    ("mobilenet_v2_0.35", 32, "block_16_expand"),
    ("mobilenet_0.25", 32, "conv_dw_13"),
    ("efficientnet_b0", 32, "block7a_expand_conv"),
    ("resnet50", 32, "conv5_block1_1_conv"),
    ("xception", 71, "block14_sepconv1"),
]


@pytest.fixture
def offline_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("LDL_OFFLINE", "1")
    return tmp_path / "keras" / "models"


@pytest.fixture
def shared_weights(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return keras_home / "models"


def test_registry_has_the_issue_backbones():
    assert set(backbones.BACKBONES) == {
        "vgg16", "mobilenet_v2_0.35", "mobilenet_v2_1.0", "mobilenet_0.25",
        "efficientnet_b0", "resnet50", "xception",
    }  # fmt: skip
    assert backbones.get_backbone("vgg16").preprocess_mode == "caffe"
    assert backbones.get_backbone("mobilenet_v2_1.0").preprocess_mode == "tf"


def test_official_file_names_follow_keras_per_size():
    mnv2 = backbones.get_backbone("mobilenet_v2_1.0")
    assert mnv2.weight_file(160).endswith("_1.0_160_no_top.h5")
    assert mnv2.weight_file(150).endswith("_1.0_224_no_top.h5")  # Keras' fallback size
    mnv1 = backbones.get_backbone("mobilenet_0.25")
    assert mnv1.weight_file(150) == "mobilenet_2_5_224_tf_no_top.h5"
    assert backbones.get_backbone("vgg16").weight_file(150) == (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )


def test_vgg16_preprocessing_is_caffe_style_not_one_over_255():
    from keras.applications import vgg16

    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    original = images.copy()
    out = backbones.get_backbone("vgg16").preprocess(images)
    np.testing.assert_allclose(out, vgg16.preprocess_input(original.copy()), atol=1e-4)
    np.testing.assert_array_equal(images, original)  # never in place
    assert out.max() > 1.5  # mean-subtracted BGR, not scaled to [0, 1]


def test_missing_weights_offline_give_a_clear_error(offline_empty_cache):
    available, why = backbones.weights_status("vgg16")
    assert not available
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in why
    assert "--no-pretrained" in why
    with pytest.raises(WeightsError, match="cannot be downloaded"):
        backbones.build_base("vgg16", 32)


def test_unknown_backbone_and_too_small_size():
    with pytest.raises(WeightsError, match="Unknown backbone 'vgg17'"):
        backbones.build_base("vgg17", 64)
    with pytest.raises(WeightsError, match="at least 71 px"):
        backbones.build_base("xception", 32, pretrained=False)


def test_vgg16_freezes_exactly_15_layers_through_block4():
    base = backbones.build_base("vgg16", 32, pretrained=False)
    boundary = backbones.set_trainable("vgg16", base)
    frozen = [layer.name for layer in base.layers if not layer.trainable]
    assert boundary == 15 and len(frozen) == 15
    assert frozen[-1] == "block4_pool"
    assert all(layer.name.startswith("block5") for layer in base.layers[15:])
    assert backbones.finetune_boundary("vgg16", base, blocks=2) == 11


@pytest.mark.parametrize("name,size,first", STRUCTURES)
def test_last_block_boundary(name, size, first):
    base = backbones.build_base(name, size, pretrained=False)
    boundary = backbones.finetune_boundary(name, base)
    assert base.layers[boundary].name == first


@pytest.mark.shared
def test_shared_mobilenet_v2_weights_load_at_any_size(shared_weights):
    available, where = backbones.weights_status("mobilenet_v2_0.35", 96)
    assert available and where.endswith("_0.35_224_no_top.h5")  # no 96 file: the 224 one
    small = backbones.build_base("mobilenet_v2_0.35", 96)
    native = backbones.build_base("mobilenet_v2_0.35", 224)
    for a, b in zip(small.get_weights(), native.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(small.get_weights()[0]).sum() > 0


@pytest.mark.shared
def test_mobilenet_v2_split_with_real_weights(shared_weights):
    import keras

    base = backbones.build_base("mobilenet_v2_1.0", 64)
    boundary = backbones.set_trainable("mobilenet_v2_1.0", base)
    assert base.layers[boundary].name == "block_16_expand"
    assert not any(layer.trainable for layer in base.layers[:boundary])
    tail = base.layers[boundary:]
    assert all(
        layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in tail
        if layer.weights
    )  # fmt: skip
    backbones.set_trainable("mobilenet_v2_1.0", base, blocks=2, train_batchnorm=True)
    assert base.get_layer("block_15_expand_BN").trainable
    assert not base.get_layer("block_14_project").trainable


def test_training_messages_in_korean(offline_empty_cache):
    """A TrainConfig validation error and the offline-weights message, in Korean."""
    from core import i18n
    from core.errors import LabError
    from core.train_config import TrainConfig

    i18n.set_language("ko")  # the autouse `english` fixture puts English back
    with pytest.raises(LabError) as invalid:
        TrainConfig.defaults("scratch", epochs=0).validate()
    assert str(invalid.value) == "잘못된 학습 설정입니다: epochs는 1 이상이어야 합니다."
    available, why = backbones.weights_status("vgg16")
    assert not available
    assert "오프라인이라 내려받을 수도 없습니다" in why and "--no-pretrained" in why
    assert "cannot be downloaded" not in why
    with pytest.raises(WeightsError, match="Keras 캐시"):
        backbones.build_base("vgg16", 32)
    assert backbones.choice_label("vgg16", 150) == "VGG16 (가중치 없음)"
