import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from helpers.onnx_graphs import check_op, make_model, rng, run_converted


def check_against_reference(op_type, inputs, attrs, initializers, opset):
    """For combinations ONNX Runtime has no kernel for: compare with the ONNX reference implementation."""
    node = helper.make_node(op_type, [*inputs, *initializers], ["y"], **attrs)
    model = make_model([node], inputs, ["y"], initializers, opset)
    want = ReferenceEvaluator(model).run(None, inputs)[0]
    got = run_converted(model, inputs)["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _f(*shape, seed=0, scale=1.0, shift=0.0):
    return (rng(seed).standard_normal(shape) * scale + shift).astype(np.float32)


def _bn_params(c, seed=1, shape=None):
    shape = shape or (c,)
    g = rng(seed)
    return {"scale": (0.5 + g.random(shape)).astype(np.float32),
            "bias": g.standard_normal(shape).astype(np.float32),
            "mean": g.standard_normal(shape).astype(np.float32),
            "var": (0.2 + g.random(shape)).astype(np.float32)}


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 4)])
@pytest.mark.parametrize("opset", [9, 14, 15])
def test_batch_norm_constant_params(shape, opset):
    check_op("BatchNormalization", {"x": _f(*shape, shift=0.5)}, {"epsilon": 1e-3},
             initializers=_bn_params(shape[1]), opset=opset)


@pytest.mark.parametrize("opset", [7, 9, 15])
def test_batch_norm_dynamic_params(opset):
    inputs = {"x": _f(2, 4, 3, 3), **_bn_params(4)}
    check_op("BatchNormalization", inputs, opset=opset, dynamic_inputs=True)


def test_batch_norm_opset6_is_test():
    # ONNX Runtime has no BatchNormalization-6 kernel.
    check_against_reference("BatchNormalization", {"x": _f(2, 3, 4, 4)}, {"is_test": 1, "epsilon": 1e-4},
                            _bn_params(3), opset=6)


def test_batch_norm_opset7_not_spatial():
    check_op("BatchNormalization", {"x": _f(2, 3, 4, 5)}, {"spatial": 0},
             initializers=_bn_params(3, shape=(3, 4, 5)), opset=7)


def test_batch_norm_dynamic_shape_constant_params():
    check_op("BatchNormalization", {"x": _f(2, 3, 4, 5)}, initializers=_bn_params(3), opset=15,
             dynamic_inputs=True)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 4)])
def test_instance_norm(shape):
    g = rng(3)
    check_op("InstanceNormalization", {"x": _f(*shape, scale=2.0, shift=1.0)}, {"epsilon": 1e-4},
             initializers={"scale": (0.5 + g.random(shape[1])).astype(np.float32),
                           "bias": g.standard_normal(shape[1]).astype(np.float32)})


def test_instance_norm_dynamic():
    g = rng(3)
    check_op("InstanceNormalization", {"x": _f(2, 3, 4, 5, shift=1.0),
                                       "scale": (0.5 + g.random(3)).astype(np.float32),
                                       "bias": g.standard_normal(3).astype(np.float32)},
             dynamic_inputs=True)


@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(axis, with_bias):
    x = _f(2, 3, 4, shift=0.5, scale=2.0)
    norm_shape = x.shape[axis:]
    g = rng(4)
    init = {"scale": (0.5 + g.random(norm_shape)).astype(np.float32)}
    if with_bias:
        init["bias"] = g.standard_normal(norm_shape).astype(np.float32)
    check_op("LayerNormalization", {"x": x}, {"axis": axis, "epsilon": 1e-3}, initializers=init, opset=17)


def test_layer_norm_stash_outputs():
    x = _f(2, 3, 4, shift=0.5)
    g = rng(4)
    check_op("LayerNormalization", {"x": x}, {"axis": 1},
             initializers={"scale": (0.5 + g.random((3, 4))).astype(np.float32),
                           "bias": g.standard_normal((3, 4)).astype(np.float32)},
             outputs=["y", "mean", "inv_std"], opset=17)


def test_layer_norm_dynamic():
    g = rng(4)
    check_op("LayerNormalization", {"x": _f(2, 3, 8), "scale": (0.5 + g.random(8)).astype(np.float32),
                                    "bias": g.standard_normal(8).astype(np.float32)},
             outputs=["y", "mean", "inv_std"], opset=17, dynamic_inputs=True)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((2, 4, 7), 2), ((1, 4, 3, 3), 4), ((2, 6, 3), 1)])
def test_group_norm_opset18(shape, groups):
    g = rng(5)
    check_op("GroupNormalization", {"x": _f(*shape, shift=0.5, scale=2.0)}, {"num_groups": groups},
             initializers={"scale": (0.5 + g.random(groups)).astype(np.float32),
                           "bias": g.standard_normal(groups).astype(np.float32)}, opset=18)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((2, 4, 7), 2), ((2, 6, 3), 1)])
def test_group_norm_opset21(shape, groups):
    g = rng(5)
    check_op("GroupNormalization", {"x": _f(*shape, shift=0.5, scale=2.0)},
             {"num_groups": groups, "epsilon": 1e-3},
             initializers={"scale": (0.5 + g.random(shape[1])).astype(np.float32),
                           "bias": g.standard_normal(shape[1]).astype(np.float32)}, opset=21)


def test_group_norm_dynamic():
    g = rng(5)
    check_op("GroupNormalization", {"x": _f(2, 6, 4, 5, shift=0.5),
                                    "scale": (0.5 + g.random(6)).astype(np.float32),
                                    "bias": g.standard_normal(6).astype(np.float32)},
             {"num_groups": 2}, opset=21, dynamic_inputs=True)


@pytest.mark.parametrize("axis", [-1, 1, 0])
@pytest.mark.parametrize("p", [1, 2])
def test_lp_norm(axis, p):
    check_op("LpNormalization", {"x": _f(3, 4, 5)}, {"axis": axis, "p": p}, opset=13)


def test_lp_norm_zero_vector():
    x = _f(3, 4)
    x[1] = 0
    check_op("LpNormalization", {"x": x}, {"axis": 1})


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    check_op("LRN", {"x": _f(2, 7, 3, 4, scale=3.0)}, {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 1.5})


@pytest.mark.parametrize("size", [2, 4])
def test_lrn_even_size(size):
    # ONNX Runtime only implements odd sizes and onnx.reference's LRN loops over the batch axis instead
    # of channels (onnx 1.17), so the spec's asymmetric window is written out here in numpy.
    x = _f(2, 7, 3, 4, scale=3.0)
    alpha, beta, bias = 0.01, 0.6, 1.5
    square_sum = np.zeros_like(x)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - (size - 1) // 2), min(x.shape[1] - 1, c + size // 2)
        square_sum[:, c] = np.sum(x[:, lo:hi + 1] ** 2, axis=1)
    want = x / (bias + alpha / size * square_sum) ** beta
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=alpha, beta=beta, bias=bias)
    got = run_converted(make_model([node], {"x": x}, ["y"]), {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_lrn_defaults_dynamic():
    check_op("LRN", {"x": _f(2, 6, 3, 3, scale=3.0)}, {"size": 3}, dynamic_inputs=True)


@pytest.mark.parametrize("axes", [None, [2, 3], [1], [0, 1, 2, 3]])
def test_mean_variance_norm(axes):
    attrs = {} if axes is None else {"axes": axes}
    check_op("MeanVarianceNormalization", {"x": _f(2, 3, 4, 5, shift=0.5, scale=2.0)}, attrs)


def test_mean_variance_norm_dynamic():
    check_op("MeanVarianceNormalization", {"x": _f(2, 3, 4, 5, shift=0.5)}, opset=9, dynamic_inputs=True)


def test_batch_norm_training_mode_is_rejected():
    from paddle2tf.converter.module import ConvertedModule
    from paddle2tf.errors import UnsupportedModelError

    params = _bn_params(3)
    node = helper.make_node("BatchNormalization", ["x", *params], ["y"], training_mode=1)
    model = make_model([node], {"x": _f(2, 3, 4)}, ["y"], params, opset=15)
    with pytest.raises(UnsupportedModelError, match="training_mode"):
        ConvertedModule(model)
