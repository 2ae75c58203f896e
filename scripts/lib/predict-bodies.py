"""Writes into the folder argv[1] one Fashion-MNIST test image as request bodies for the
prediction routes, with a wrk Lua script for each: v1.json/v1.lua (POST /v1/models/{name}/predict),
v2.json/v2.lua (v2 /infer, JSON tensor), v2bin.body/v2bin.lua (v2 /infer, binary tensor data)."""
import gzip, json, struct, sys

d = sys.argv[1]
raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]
x = [round(b / 255, 4) for b in raw]
open(d + "/v1.json", "w").write(json.dumps({"inputs": [x]}))
open(d + "/v2.json", "w").write(json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": x}]}))
header = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "parameters": {"binary_data_size": 784 * 4}}]}).encode()
open(d + "/v2bin.body", "wb").write(header + struct.pack("<784f", *x))
open(d + "/v2bin.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
    f'wrk.headers["Inference-Header-Content-Length"] = "{len(header)}"\n'
    f'local f = io.open("{d}/v2bin.body", "rb"); wrk.body = f:read("*a"); f:close()\n')
for v in ("v1", "v2"):
    open(f"{d}/{v}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{d}/{v}.json"); wrk.body = f:read("*a"); f:close()\n')
