"""The reasons mcugen may give for refusing an input: one table, read by the
fuzz campaign (tests/fuzz.py), where a refusal that matches none of these is
a finding ("refused-unknown-reason"). Each row: a short name and a regular
expression searched in the message (the case's own paths replaced by
"<file>"). Adding a refusal to mcugen = adding a row here; keep the patterns
specific enough that a wrong message (a Python error text, a traceback
fragment, "corrupt" where the file is fine) does not match by accident."""
from __future__ import annotations

import re

# name -> pattern
REFUSAL_REASONS: dict[str, str] = {
    # .tflite: the container
    "tflite: not a TFLite model": r"not a TFLite model",
    "tflite: unreadable flatbuffer": r"truncated or corrupt \.tflite file \((error|TypeError|ValueError|"
                                     r"IndexError|struct\.error|UnicodeDecodeError|OverflowError)",
    "tflite: constant of the wrong size": r"truncated or corrupt \.tflite file \(tensor '.*' holds [\d,]+ bytes, "
                                          r"[\d,]+ expected\)",
    "tflite: window larger than its input": r"^layer '.*' \(\w+\): a \d+x\d+ window does not fit its \d+x\d+ input$",
    "tflite: recorded shape differs": r"^layer '.*' \(\w+\): the file records output shape \(.*\), the op computes",
    "tflite: axis out of range": r"operator #\d+ \w+: axis -?\d+ for tensors of rank \d+",
    "tflite: corrupt structure": r"corrupt \.tflite file: (operator #\d+ |tensor '|buffer |subgraph|the model('s)? )",
    "tflite: variable state read": r"unsupported a variable tensor as input \d+ \(state kept between invocations\)",
    "tflite: bias of another size": r"unsupported a bias of \d+ values for \d+ channels",
    "tflite: bias type declared otherwise": r"unsupported a bias declared \w+ in the options \(int32 expected\)",
    "tflite: grouped convolution": r"unsupported grouped convolution \(\d+ input channels, filter depth \d+\)",
    "tflite: shape arithmetic disagrees": r"op #\d+ \w+ folds to shape \(.*\), the file says \(.*\)",
    "concatenation shapes disagree": r"layer '.*' \(concat\): inputs \[.*\] do not concatenate to \(.*\)",
    "tflite: empty tensor read": r"unsupported empty tensor '",
    "tflite: constant or run-time input expected": r"unsupported a (run-time value|constant) as input \d+ \(a "
                                                   r"(constant|run-time tensor) is expected there\)",
    "tflite: padding the batch or channels": r"unsupported padding the batch or channel axis",
    "tflite: axes out of range": r"unsupported axes \[.*\] for a rank-\d+ input",
    "tflite: inconsistent operator": r"TFLite op #\d+ \w+ \(.*\): inconsistent file",
    "tflite: not fully int8": r"not a fully int8-quantized model",
    "tflite: op without 16x8": r"TFLite op #\d+ \w+ with int16 activations \(16x8\) is not supported",
    "tflite: variable tensor with data": r"unsupported tensor '.*' marked variable \(state kept between "
                                         r"invocations\) that also holds constant data",
    "tflite: variable tensor misplaced": r"unsupported (a variable tensor as input \d+|input \d+ that is not a "
                                         r"variable tensor)",
    "tflite: unsupported op": r"unsupported TFLite op ",
    "tflite: SVDF outside TFLM's integer kernel": r"^TFLite op #\d+ SVDF \(.*\): unsupported (\d+ inputs|an input of "
                                                  r"shape|time weights|feature weights|weights of shapes|rank -?\d+ "
                                                  r"for|a state of (type|shape)|a bias scale|an output of type)",
    "tflite: SOFTMAX types": r"^TFLite op #\d+ SOFTMAX \(.*\): unsupported (input of type \w+ \(int8 expected\)|"
                             r"int16 output scale)",
    "tflite: unsupported reshape": r"TFLite op #\d+ \w+ \(.*\): unsupported reshaping",
    "tflite: input of another rank": r"^TFLite op #\d+ \w+ \(.*\): unsupported input of rank \d+ \(NHWC expected\)$",
    "tflite: unsupported use of an op": r"^TFLite op #\d+ \w+ \(.*\): unsupported (output scale|weights with a "
                                        r"non-zero zero point|inputs quantized differently|different input and output "
                                        r"quantization|fused activation|input \d+ \(.*\) without quantization)",
    "tflite: output shape of a dynamic tensor": r"^TFLite op #\d+ \w+ \(.*\): unsupported output shape \(.*\) \(the "
                                                r"file records \(.*\), with dynamic dimensions\)",
    "tflite: axis tensor of expand_dims": r"^TFLite op #\d+ EXPAND_DIMS \(.*\): unsupported (an axis tensor of \d+ "
                                          r"values|axis -?\d+ for a rank)",
    "tflite: operator option out of range": r"operator #\d+ \w+: \w+ -?[\d,]+ \(must be in \[",
    "tflite: scale not finite positive": r"has scale \S+ \(scales must be finite, positive float32 values\)",
    "tflite: scale out of range": r"has scale \S+ \(outside \[1e-30, 1e30\]\)",
    "tflite: zero point": r"has zero point -?\d+ \((an int8 tensor's must be in \[-128, 127\]|0 expected)\)",
    "dimension beyond int16": r"dimension [\d,]+ in shape \(.*\) is over 32,767, the largest the kernels represent",
    # Keras files
    "keras: unreadable": r"cannot be read as a Keras model \(",
    "keras: not a .keras zip": r"not a valid \.keras file \(",
    "keras: unsupported layer": r"^unsupported layer '",
    "keras: dynamic input shape": r"^input '.*' has shape \(.*\): every dimension but the batch must be fixed$",
    "keras: parameter beyond int16": r"layer '.*' \(\w+\): \w+ -?[\d,]+ is outside \[0, 32,767\], what the kernels "
                                     r"represent \(int16\)",
    "keras: recurrent option": r"^layer '.*' \((GRU|SimpleRNN|Bidirectional)\): unsupported (\w+ )?(activation|"
                               r"recurrent_activation|stateful|return_state|merge_mode|wrapped layer)",
    "tflite quantizer: recurrent loop": r"^--quantizer tflite(-16x8)?: .*(WHILE loop|TRANSPOSE).*, which mcugen does not run; "
                                        r"build it with mcugen's own quantizer",
    # quantization
    "recurrent accumulator could overflow": r"layer '.*': \d+ units could overflow the int32 accumulator of the "
                                            r"recurrent product",
    "values not finite": r"^tensor '.*' is not finite on the calibration data$",
    "values beyond int8 scales": r"^tensor '.*' \(its values, on the calibration data or as the file says, are too "
                                 r"large or too small for int8\): scale \S+ is outside \[1e-30, 1e30\]$",
    "accumulator could overflow": r"layer '.*': \d+ products per output could overflow the int32 accumulator$",
    "multiplier beyond float range": r"layer '.*': a requantization multiplier of \S+ \(input scale x weight scale",
    "requantization overflow": r"^layer '.*' \(\w+\): requantizing its accumulator \(up to [\d,]+\) with shift "
                               r"\d+ could overflow int32: its output scale is too small",
    # calibration data
    "calib: unreadable": r"not a readable (numpy|\.npz) file \(",
    "calib: truncated": r"truncated \(its header declares shape \(.*\), [\d,]+ bytes of data; the file holds [\d,]+\)",
    "calib: wrong shape": r"calibration data <file> has shape \(.*\); the model expects \(N, ",
    "calib: not numbers": r"has dtype \w+; expected numbers",
    "calib: NaN or infinite": r"calibration data <file> holds NaN or infinite values",
    "calib: empty": r"calibration data <file> holds no samples",
    "calib: no array x": r"holds .*; name the inputs array 'x'",
}

_COMPILED = {name: re.compile(p) for name, p in REFUSAL_REASONS.items()}


def reason_of(message: str) -> str | None:
    """The name of the first known reason the message gives, or None."""
    for name, rx in _COMPILED.items():
        if rx.search(message):
            return name
    return None
