"""sal360_fuzzer: one libFuzzer target per parser of outside data (issue #18).

`sal360_fuzzer(name, srcs, deps, corpus)` makes
  - `name`: under --config=fuzz (clang, -fsanitize=fuzzer,address,undefined) a libFuzzer
    binary (run it through tools/fuzz.sh); in every other build the same entry point
    linked with fuzz_driver.cc, a main that feeds it files;
  - `name + "_corpus_test"`: a test (every build) that runs the seed corpus and the
    crash reproducers (corpus/<name>/) through the entry point, so each input that once
    crashed stays a unit test.
"""

def sal360_fuzzer(name, srcs, deps = [], corpus = None):
    corpus = corpus or name
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//tests/fuzz:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:fuzz_driver"],
        }),
        linkopts = select({
            "//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        testonly = True,
    )
    native.sh_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = ["run_corpus.sh"],
        args = ["$(location :%s)" % name, "tests/fuzz/corpus/" + corpus],
        data = [":" + name] + native.glob(["corpus/%s/**" % corpus]),
        tags = ["parser"],
    )
