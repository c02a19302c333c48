import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng, run_converted, run_ort

EMPTY = np.array([], np.float32)
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]
UP, DOWN, MIXED = [1, 1, 2.0, 1.5], [1, 1, 0.5, 0.6], [1, 1, 1.75, 0.4]


def _x(shape=(2, 3, 5, 7), seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def _x_for(coord):
    # align_corners with a fractional output length (length * scale) is rejected: UP, DOWN and MIXED
    # give integer lengths on 4 x 10.
    return _x((2, 3, 4, 10)) if coord == "align_corners" else _x()


def _resize(attrs, *, scales=None, sizes=None, roi=None, x=None, opset=13, dynamic=False, **kwargs):
    x = _x() if x is None else x
    init, names = {}, ["x", "", "", ""]
    if roi is not None or opset == 11:
        init["roi"] = np.asarray(roi if roi is not None else EMPTY, np.float32)
        names[1] = "roi"
    if scales is not None or opset == 11:
        init["scales"] = np.asarray(scales if scales is not None else EMPTY, np.float32)
        names[2] = "scales"
    if sizes is not None:
        init["sizes"] = np.asarray(sizes, np.int64)
        names[3] = "sizes"
    while names[-1] == "":
        names.pop()
    return check_op("Resize", {"x": x}, attrs, initializers=init, input_names=names, opset=opset,
                    dynamic_inputs=dynamic, outputs={"y": x.dtype}, **kwargs)


@pytest.mark.parametrize("scales", [UP, DOWN, MIXED])
@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
def test_nearest(scales, coord, nearest_mode):
    _resize({"mode": "nearest", "coordinate_transformation_mode": coord, "nearest_mode": nearest_mode},
            scales=scales, x=_x_for(coord))


@pytest.mark.parametrize("scales", [UP, DOWN, MIXED])
@pytest.mark.parametrize("coord", COORDS)
def test_linear(scales, coord):
    _resize({"mode": "linear", "coordinate_transformation_mode": coord}, scales=scales, x=_x_for(coord))


@pytest.mark.parametrize("scales", [UP, DOWN, MIXED])
@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("exclude_outside", [0, 1])
def test_cubic(scales, coord, exclude_outside):
    _resize({"mode": "cubic", "coordinate_transformation_mode": coord, "exclude_outside": exclude_outside},
            scales=scales, x=_x_for(coord))


@pytest.mark.parametrize("a", [-0.5, -0.75])
def test_cubic_coeff_a(a):
    _resize({"mode": "cubic", "cubic_coeff_a": a}, scales=MIXED)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("sizes", [[2, 3, 8, 11], [2, 3, 3, 4], [2, 3, 1, 1]])
def test_sizes(mode, sizes):
    _resize({"mode": mode, "coordinate_transformation_mode": "pytorch_half_pixel"}, sizes=sizes)


@pytest.mark.parametrize("sizes", [[2, 3, 8, 11], [2, 3, 1, 4]])
def test_align_corners_sizes(sizes):
    _resize({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, sizes=sizes)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("sizes", [[2, 3, 6, 9], [2, 3, 3, 4], [2, 3, 1, 5]])
def test_tf_crop_and_resize(mode, sizes):
    _resize({"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -3.5},
            sizes=sizes, roi=[0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4])


def test_tf_crop_and_resize_scales_opset11():
    _resize({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
            scales=[1, 1, 1.6, 0.8], roi=[0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7], opset=11)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_opset11_empty_roi_and_scales(mode):
    _resize({"mode": mode}, sizes=[2, 3, 7, 4], opset=11)


def test_opset11_tf_half_pixel_for_nn():
    _resize({"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn"}, scales=MIXED, opset=11)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("scales", [UP, [1, 1, 0.5, 0.3]])
def test_half_pixel_symmetric_opset19(mode, scales):
    _resize({"mode": mode, "coordinate_transformation_mode": "half_pixel_symmetric"}, scales=scales, opset=19)


def test_half_pixel_symmetric_near_tie_follows_spec():
    # Scale 0.6 on width 7 puts output 0 at x_original = 0.50000017 (also in exact arithmetic), so
    # round_prefer_floor picks index 1. ONNX Runtime 1.32's nearest path rounds its intermediate
    # differently and picks 0; onnx.reference follows the spec, and so does the converter.
    from onnx.reference import ReferenceEvaluator

    x = np.arange(35, dtype=np.float32).reshape(1, 1, 5, 7)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                            coordinate_transformation_mode="half_pixel_symmetric")
    model = make_model([node], {"x": x}, ["y"], {"scales": np.array([1, 1, 0.5, 0.6], np.float32)}, opset=19)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(run_converted(model, {"x": x})["y"], want)
    assert want[0, 0, 0, 0] == 8


def test_half_pixel_symmetric_sizes_opset19():
    _resize({"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}, sizes=[2, 3, 3, 10],
            opset=19)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_keep_aspect_ratio_opset18(policy, mode):
    _resize({"mode": mode, "keep_aspect_ratio_policy": policy, "axes": [2, 3]}, sizes=[8, 9], opset=18)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_axes_with_scales_opset18(mode):
    _resize({"mode": mode, "axes": [-1, 2]}, scales=[0.6, 1.8], opset=18)


def test_axes_crop_roi_opset18():
    _resize({"mode": "linear", "axes": [3], "coordinate_transformation_mode": "tf_crop_and_resize"},
            sizes=[5], roi=[0.2, 0.9], opset=18)


def test_antialias_nearest_is_plain_nearest_opset18():
    # The spec applies antialias to linear/cubic only; ONNX Runtime rejects it with nearest, so the
    # converted antialias=1 model is compared with ONNX Runtime on the same node without the flag.
    x, scales = _x(), np.array(DOWN, np.float32)
    models = [make_model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", **extra)],
                         {"x": x}, ["y"], {"scales": scales}, opset=18) for extra in ({"antialias": 1}, {})]
    np.testing.assert_array_equal(run_converted(models[0], {"x": x})["y"], run_ort(models[1], {"x": x})["y"])


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [UP, DOWN, [1, 1, 3.0, 2.0]])
def test_opset10(mode, scales):
    check_op("Resize", {"x": _x()}, {"mode": mode}, initializers={"scales": np.array(scales, np.float32)},
             opset=10)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_opset7(mode):
    check_op("Upsample", {"x": _x()}, {"mode": mode, "scales": [1.0, 1.0, 2.0, 3.0]}, opset=7)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2.0, 1.5], [1, 1, 1.0, 2.5]])
def test_upsample_opset9(mode, scales):
    check_op("Upsample", {"x": _x()}, {"mode": mode}, initializers={"scales": np.array(scales, np.float32)},
             opset=9)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_dynamic_shape_scales(mode):
    _resize({"mode": mode}, scales=MIXED, dynamic=True)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_dynamic_shape_sizes(mode):
    _resize({"mode": mode, "coordinate_transformation_mode": "align_corners"}, sizes=[2, 3, 9, 4], dynamic=True)


def test_dynamic_shape_keep_aspect_ratio():
    _resize({"mode": "nearest", "keep_aspect_ratio_policy": "not_smaller", "axes": [2, 3]}, sizes=[8, 9],
            opset=18, dynamic=True)


def test_dynamic_crop_and_resize():
    _resize({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, sizes=[2, 3, 4, 6],
            roi=[0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4], dynamic=True)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_sizes_computed_at_run_time(mode):
    # sizes from the input's shape (as exporters emit them): not a constant at conversion time.
    x = _x()
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Mul", ["shape", "factor"], ["sizes"]),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode)]
    model = make_model(nodes, {"x": x}, ["y"], {"factor": np.array([1, 1, 2, 3], np.int64)}, opset=13,
                       dynamic_inputs=True)
    assert_matches_ort(model, {"x": x})


def test_scales_fed_at_run_time():
    x, scales = _x(), np.array(MIXED, np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")
    model = make_model([node], {"x": x, "scales": scales}, ["y"], opset=13, dynamic_inputs=True)
    assert_matches_ort(model, {"x": x, "scales": scales})


def test_nearest_uint8():
    x = rng().integers(0, 255, (1, 3, 5, 7)).astype(np.uint8)
    _resize({"mode": "nearest"}, scales=MIXED, x=x)


def test_nearest_rank3():
    _resize({"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}, scales=[1, 1, 2.5],
            x=_x((2, 3, 6)))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_rank5_trilinear(mode):
    _resize({"mode": mode}, scales=[1, 1, 2.0, 0.5, 1.5], x=_x((1, 2, 3, 4, 5)))


def test_linear_2d():
    _resize({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, scales=[1.5, 2.5],
            x=_x((4, 6)))


@pytest.mark.parametrize("attrs", [{"mode": "linear", "antialias": 1}, {"mode": "area"},
                                   {"coordinate_transformation_mode": "tf_half_pixel_for_nn"}])
def test_unsupported_attributes_are_rejected(attrs):
    from paddle2tf.converter.module import ConvertedModule
    from paddle2tf.errors import UnsupportedModelError

    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    model = make_model([node], {"x": _x()}, ["y"], {"scales": np.array(UP, np.float32)}, opset=18)
    with pytest.raises(UnsupportedModelError, match="Resize"):
        ConvertedModule(model)


@pytest.mark.parametrize("shape,scales,dynamic,rejected", [
    ((2, 3, 5, 7), DOWN, False, True),  # 2.5 x 4.2: fractional output lengths
    ((2, 3, 4, 10), DOWN, False, False),  # 2 x 6
    ((2, 3, 4, 10), DOWN, True, True),  # unknown lengths
    ((2, 3, 5, 7), [1, 1, 2, 3], True, False),  # integer scales: integer lengths whatever the input's
    ((2, 3, 4, 10), "runtime", False, True),  # run-time scales
])
def test_align_corners_with_fractional_output_length_is_rejected(shape, scales, dynamic, rejected):
    # The ONNX reference uses length * scale unrounded in the align_corners formula, ONNX Runtime (and the
    # converter) the integer output length: only integer output lengths have one answer.
    from paddle2tf.converter.prescan import find_unsupported

    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize", mode="linear",
                            coordinate_transformation_mode="align_corners")
    feeds, inits = {"x": _x(shape)}, {}
    if scales == "runtime":
        feeds["scales"] = np.array(DOWN, np.float32)
    else:
        inits["scales"] = np.array(scales, np.float32)
    model = make_model([node], feeds, ["y"], inits, opset=13, dynamic_inputs=dynamic)
    expected = {"Resize (align_corners with scales giving a fractional or unknown output length: the ONNX "
                "reference uses length * scale unrounded, ONNX Runtime the integer output length)": ["resize"]}
    assert find_unsupported(model) == (expected if rejected else {})
