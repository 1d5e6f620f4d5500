# safetensors (issue 5): reader/writer, JSON parser, atomic writes (label safetensors),
# and interop with PyTorch through the committed goldens in tests/data/safetensors
# (labels safetensors and parity). docs/safetensors.md explains how to regenerate and
# check the goldens.
tnn_add_test(NAME test_safetensors SOURCES test_safetensors.c LABELS safetensors)
tnn_add_test(NAME test_safetensors_json SOURCES test_json.c LABELS safetensors)
# The same executable's PyTorch group.
add_test(NAME test_safetensors_parity COMMAND test_safetensors --parity)
set_tests_properties(test_safetensors_parity PROPERTIES LABELS "safetensors;parity" TIMEOUT 120
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
