#!/usr/bin/env python3
"""A client of a model that keeps learning: it predicts Fashion-MNIST test images through an
adapting alias and, once the true class is known, sends it back as feedback. Prints the running
accuracy and what each snapshot did. Standard library only.

    neuromod serve &   # then train and register a model, e.g. as in the README
    curl -X PUT localhost:8080/v1/models/fmnist/aliases/live -d '{"version": 1}'
    curl -X PUT localhost:8080/v1/models/fmnist/aliases/live/adaptation --data @examples/adaptation/policy.json
    examples/adaptation/feedback-loop.py --url http://127.0.0.1:8080 --model fmnist --alias live --count 2000
"""
import argparse, gzip, http.client, json, urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--url", default="http://127.0.0.1:8080")
ap.add_argument("--model", default="fmnist")
ap.add_argument("--alias", default="live")
ap.add_argument("--count", type=int, default=2000)
a = ap.parse_args()
data = "/usr/share/datasets/fashion-mnist/"
images = gzip.open(data + "t10k-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(data + "t10k-labels-idx1-ubyte.gz").read()[8:]
u = urllib.parse.urlparse(a.url)
conn = http.client.HTTPConnection(u.hostname, u.port)


def call(method, path, body):
    conn.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


right = 0
for i in range(a.count):
    x = [b / 255 for b in images[i * 784:(i + 1) * 784]]
    status, p = call("POST", f"/v1/models/{a.model}/predict?alias={a.alias}", {"inputs": [x]})
    assert status == 200, p
    answer = p["predictions"][0]
    right += answer["class"] == labels[i]
    # Later, when the truth is known:
    status, f = call("POST", f"/v1/models/{a.model}/feedback", {"prediction_id": answer["prediction_id"], "label": labels[i]})
    if status == 429:
        continue   # over the model's feedback rate; a real client would retry after Retry-After
    if f.get("snapshot_version"):
        print(f"after {i + 1}: snapshot version {f['snapshot_version']}, drift {f['update']['drift']:.3f}, state {f['state']}")
    if f.get("update", {}) and f["update"]["shift_detected"]:
        print(f"after {i + 1}: noradrenaline detected a shift (NA {f['update']['noradrenaline']:.2f})")
print(f"accuracy over {a.count} predictions: {right / a.count:.3f}")
