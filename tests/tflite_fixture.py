"""A small, test-only int8 .tflite writer for a LayerGraph (random weights, one activation scale),
so the reader can be checked on every op it maps against files LiteRT accepts and runs.
The real exporter lives in tinyml_cli/export; this stays minimal on purpose."""

from __future__ import annotations

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator as OP
from tflite.BuiltinOptions import BuiltinOptions as OPTS

CODES = {"conv2d": OP.CONV_2D, "depthwise_conv2d": OP.DEPTHWISE_CONV_2D,
         "fully_connected": OP.FULLY_CONNECTED, "add": OP.ADD, "avg_pool": OP.AVERAGE_POOL_2D,
         "max_pool": OP.MAX_POOL_2D, "mean": OP.MEAN, "reshape": OP.RESHAPE, "softmax": OP.SOFTMAX}
ACT = {"none": 0, "relu": 1, "relu6": 3}
PAD = {"same": 0, "valid": 1}
SCALE = 0.05


def _vector(b, start, values, kind):
    start(b, len(values))
    for v in reversed(values):
        getattr(b, f"Prepend{kind}")(v)
    return b.EndVector()


def write_int8_tflite(graph, rng, float_ends: bool = True) -> bytes:
    """Bytes of an int8 model for ``graph``, with QUANTIZE / DEQUANTIZE to float32 ends if asked."""
    b = flatbuffers.Builder(4096)
    buffers = [b""]                                    # buffer 0: the empty sentinel
    tensors = []                                       # (name, shape, type, buffer, scales, zps, axis)

    def tensor(shape, kind=tflite.TensorType.INT8, data=None, scales=(SCALE,), zps=(0,), axis=0):
        buffer = 0
        if data is not None:
            buffers.append(data.tobytes())
            buffer = len(buffers) - 1
        tensors.append((f"t{len(tensors)}", [int(d) for d in shape], kind, buffer, scales, zps, axis))
        return len(tensors) - 1

    ids = [tensor([1, *graph.input_shape])]
    ops = []
    if float_ends:
        float_in = tensor([1, *graph.input_shape], tflite.TensorType.FLOAT32, scales=(), zps=())
        ops.append((OP.QUANTIZE, [float_in], [ids[0]], None))
    for layer in graph.layers:
        ins = [ids[t] for t in layer.inputs]
        last = layer is graph.layers[-1]
        out_scale = (1 / 256,) if layer.op == "softmax" else (SCALE,)
        out = tensor([1, *layer.output_shape], scales=out_scale, zps=(-128,) if layer.op == "softmax" else (0,))
        if layer.weight_shape is not None:
            channels = layer.weight_shape[0] if layer.op != "depthwise_conv2d" else layer.weight_shape[-1]
            per_channel = layer.op != "fully_connected"
            w_scales = tuple(rng.uniform(0.005, 0.02, channels if per_channel else 1))
            weights = rng.integers(-127, 128, layer.weight_shape, dtype=np.int8)
            axis = 3 if layer.op == "depthwise_conv2d" else 0
            ins.append(tensor(layer.weight_shape, data=weights, scales=w_scales, zps=(0,) * len(w_scales),
                              axis=axis))
            bias = rng.integers(-100, 100, channels, dtype=np.int32)
            ins.append(tensor([channels], tflite.TensorType.INT32, data=bias,
                              scales=tuple(SCALE * s for s in w_scales), zps=(0,) * len(w_scales)))
        elif layer.op == "mean":
            ins.append(tensor([2], tflite.TensorType.INT32, data=np.array([1, 2], np.int32), scales=(), zps=()))
        elif layer.op == "reshape":
            ins.append(tensor([2], tflite.TensorType.INT32, data=np.array([1, -1], np.int32), scales=(), zps=()))
        ops.append((CODES[layer.op], ins, [out], layer))
        ids.append(out)
    model_in, model_out = ids[0], ids[-1]
    if float_ends:
        model_in, model_out = float_in, tensor([1, *graph.output_shape], tflite.TensorType.FLOAT32,
                                               scales=(), zps=())
        ops.append((OP.DEQUANTIZE, [ids[-1]], [model_out], None))

    codes = sorted({code for code, *_ in ops})
    # --- serialise, innermost objects first ---
    buffer_offsets = []
    for data in buffers:
        vec = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buffer_offsets.append(tflite.BufferEnd(b))
    tensor_offsets = []
    for name, shape, kind, buffer, scales, zps, axis in tensors:
        name_off = b.CreateString(name)
        shape_off = _vector(b, tflite.TensorStartShapeVector, shape, "Int32")
        quant = None
        if scales:
            s_off = _vector(b, tflite.QuantizationParametersStartScaleVector, list(scales), "Float32")
            z_off = _vector(b, tflite.QuantizationParametersStartZeroPointVector, list(zps), "Int64")
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, s_off)
            tflite.QuantizationParametersAddZeroPoint(b, z_off)
            tflite.QuantizationParametersAddQuantizedDimension(b, axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape_off)
        tflite.TensorAddType(b, kind)
        tflite.TensorAddBuffer(b, buffer)
        tflite.TensorAddName(b, name_off)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    op_offsets = []
    for code, ins, outs, layer in ops:
        kind, options = _options(b, code, layer)
        in_off = _vector(b, tflite.OperatorStartInputsVector, ins, "Int32")
        out_off = _vector(b, tflite.OperatorStartOutputsVector, outs, "Int32")
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(code))
        tflite.OperatorAddInputs(b, in_off)
        tflite.OperatorAddOutputs(b, out_off)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, kind)
            tflite.OperatorAddBuiltinOptions(b, options)
        op_offsets.append(tflite.OperatorEnd(b))
    code_offsets = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))

    def offsets(start, items):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    t_vec = offsets(tflite.SubGraphStartTensorsVector, tensor_offsets)
    o_vec = offsets(tflite.SubGraphStartOperatorsVector, op_offsets)
    i_vec = _vector(b, tflite.SubGraphStartInputsVector, [model_in], "Int32")
    out_vec = _vector(b, tflite.SubGraphStartOutputsVector, [model_out], "Int32")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddOperators(b, o_vec)
    tflite.SubGraphAddInputs(b, i_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    subgraph = tflite.SubGraphEnd(b)
    sg_vec = offsets(tflite.ModelStartSubgraphsVector, [subgraph])
    c_vec = offsets(tflite.ModelStartOperatorCodesVector, code_offsets)
    bf_vec = offsets(tflite.ModelStartBuffersVector, buffer_offsets)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, c_vec)
    tflite.ModelAddSubgraphs(b, sg_vec)
    tflite.ModelAddBuffers(b, bf_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _options(b, code, layer):
    if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D):
        conv = code == OP.CONV_2D
        prefix = "Conv2DOptions" if conv else "DepthwiseConv2DOptions"
        getattr(tflite, f"{prefix}Start")(b)
        getattr(tflite, f"{prefix}AddPadding")(b, PAD[layer.padding])
        getattr(tflite, f"{prefix}AddStrideH")(b, layer.stride[0])
        getattr(tflite, f"{prefix}AddStrideW")(b, layer.stride[1])
        getattr(tflite, f"{prefix}AddFusedActivationFunction")(b, ACT[layer.activation])
        getattr(tflite, f"{prefix}AddDilationHFactor")(b, 1)
        getattr(tflite, f"{prefix}AddDilationWFactor")(b, 1)
        if not conv:
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
        return (OPTS.Conv2DOptions if conv else OPTS.DepthwiseConv2DOptions), getattr(tflite, f"{prefix}End")(b)
    if code == OP.FULLY_CONNECTED:
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, ACT[layer.activation])
        return OPTS.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)
    if code in (OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, PAD[layer.padding])
        tflite.Pool2DOptionsAddStrideH(b, layer.stride[0])
        tflite.Pool2DOptionsAddStrideW(b, layer.stride[1])
        tflite.Pool2DOptionsAddFilterHeight(b, layer.kernel[0])
        tflite.Pool2DOptionsAddFilterWidth(b, layer.kernel[1])
        tflite.Pool2DOptionsAddFusedActivationFunction(b, ACT[layer.activation])
        return OPTS.Pool2DOptions, tflite.Pool2DOptionsEnd(b)
    if code == OP.ADD:
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, ACT[layer.activation])
        return OPTS.AddOptions, tflite.AddOptionsEnd(b)
    if code == OP.MEAN:
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, False)
        return OPTS.ReducerOptions, tflite.ReducerOptionsEnd(b)
    if code == OP.SOFTMAX:
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, 1.0)
        return OPTS.SoftmaxOptions, tflite.SoftmaxOptionsEnd(b)
    return 0, None
