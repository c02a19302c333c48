import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 1]}, {"pads": [1, 0, 1, 2]}, {"dilations": [2, 1]}])
def test_col2im(attrs):
    image, block = np.array([6, 5], np.int64), np.array([2, 3], np.int64)
    strides = attrs.get("strides", [1, 1])
    dilations = attrs.get("dilations", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    counts = [(image[d] + pads[d] + pads[d + 2] - (dilations[d] * (block[d] - 1) + 1)) // strides[d] + 1
              for d in range(2)]
    x = rng().standard_normal((2, 3 * 6, int(np.prod(counts)))).astype(np.float32)
    check_op("Col2Im", {"x": x, "image": image, "block": block}, attrs, opset=18)


UNPOOL_X = np.array([[[[5, 6], [7, 8]]]], np.float32)
UNPOOL_INDICES = np.array([[[[5, 7], [13, 15]]]], np.int64)


def test_max_unpool():
    check_op("MaxUnpool", {"x": UNPOOL_X, "i": UNPOOL_INDICES}, {"kernel_shape": [2, 2], "strides": [2, 2]},
             opset=11)


def test_max_unpool_output_shape_of_the_unpooled_size():
    check_op("MaxUnpool", {"x": UNPOOL_X, "i": UNPOOL_INDICES}, {"kernel_shape": [2, 2], "strides": [2, 2]},
             initializers={"shape": np.array([1, 1, 4, 4], np.int64)}, opset=11)


@pytest.mark.parametrize("output_shape,rejected", [
    ([1, 1, 5, 5], True),
    ("runtime", True),  # not known at check time
    ([1, 1, 4, 4], False),  # the unpooled size
    (None, False),
])
def test_max_unpool_larger_output_shape_is_rejected(output_shape, rejected):
    # The ONNX reference scatters into the unpooled shape and pads it to output_shape; the spec and ONNX
    # Runtime (and the converter) read the indices as flat positions in output_shape.
    from onnx import helper

    from paddle2tf.converter.prescan import find_unsupported

    from helpers.onnx_graphs import make_model

    feeds, inits = {"x": UNPOOL_X, "i": UNPOOL_INDICES}, {}
    if output_shape == "runtime":
        feeds["shape"] = np.array([1, 1, 5, 5], np.int64)
    elif output_shape is not None:
        inits["shape"] = np.array(output_shape, np.int64)
    names = ["x", "i", "shape"] if output_shape is not None else ["x", "i"]
    node = helper.make_node("MaxUnpool", names, ["y"], name="unpool", kernel_shape=[2, 2], strides=[2, 2])
    model = make_model([node], feeds, ["y"], inits, opset=11)
    expected = {"MaxUnpool (output_shape other than the unpooled shape: the ONNX reference pads the unpooled "
                "result, the spec and ONNX Runtime index into output_shape)": ["unpool"]}
    assert find_unsupported(model) == (expected if rejected else {})


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
def test_roi_align(mode, transform):
    x = rng().standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [1.5, 2.2, 8.1, 6.3], [-2, -1, 5, 13], [3, 3, 3.5, 3.2]], np.float32)
    batch = np.array([0, 1, 1, 0], np.int64)
    check_op("RoiAlign", {"x": x, "rois": rois, "b": batch},
             {"mode": mode, "coordinate_transformation_mode": transform, "output_height": 3, "output_width": 4,
              "sampling_ratio": 2, "spatial_scale": 0.8}, opset=16, atol=1e-5)


@pytest.mark.parametrize("attrs,with_mask", [({}, False), ({"pads": [1, 0, 1, 2], "strides": [2, 1]}, True),
                                             ({"dilations": [2, 1], "group": 2, "offset_group": 2}, True)])
def test_deform_conv(attrs, with_mask):
    x = rng().standard_normal((2, 4, 7, 6)).astype(np.float32)
    group, offset_group = attrs.get("group", 1), attrs.get("offset_group", 1)
    w = rng(1).standard_normal((6, 4 // group, 3, 2)).astype(np.float32)
    strides, dilations, pads = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]), attrs.get("pads", [0] * 4)
    out = [(s + pads[d] + pads[d + 2] - (dilations[d] * (k - 1) + 1)) // strides[d] + 1
           for d, (s, k) in enumerate(zip((7, 6), (3, 2), strict=True))]
    offset = (rng(2).standard_normal((2, offset_group * 2 * 6, *out)) * 2).astype(np.float32)
    feeds = {"x": x, "offset": offset}
    inits = {"w": w, "b": rng(3).standard_normal(6).astype(np.float32)}
    names = ["x", "w", "offset", "b"]
    if with_mask:
        inits["mask"] = rng(4).random((2, offset_group * 6, *out)).astype(np.float32)
        names.append("mask")
    check_op("DeformConv", feeds, {"kernel_shape": [3, 2], **attrs}, initializers=inits, input_names=names,
             opset=19, atol=1e-4)
