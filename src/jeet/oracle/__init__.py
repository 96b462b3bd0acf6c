"""jeet.oracle: what "correct" means — canonical values, test cases, tests files, differential inputs, oracles."""

from .cases import Case
from .differential import edge_values, generate_inputs, random_value
from ..errors import OracleError
from .oracle import Oracle, Verdict, differential_oracle, tests_oracle, with_frame
from .seeds import fresh_seed
from .tests_file import TestCases, case_to_json, dump_tests, load_tests, parse_case, parse_tests
from .values import (VALTYPES, WIDTH, bits_to_float, canonical, float_to_bits, format_value, from_wasmtime,
                     is_nan, results_equal, to_python, to_signed, to_wasmtime, valtype_name, valtype_names,
                     values_equal)

__all__ = [
    "VALTYPES", "WIDTH", "Case", "Oracle", "OracleError", "TestCases", "Verdict", "bits_to_float", "canonical",
    "case_to_json", "differential_oracle", "dump_tests", "edge_values", "float_to_bits", "format_value", "fresh_seed",
    "from_wasmtime", "generate_inputs", "is_nan", "load_tests", "parse_case", "parse_tests", "random_value",
    "results_equal", "tests_oracle", "to_python", "to_signed", "to_wasmtime", "valtype_name", "valtype_names",
    "values_equal", "with_frame",
]
