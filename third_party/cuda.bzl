"""CUDA compilation without rules_cuda.

`cuda_library(name, srcs, hdrs, deps, ...)` compiles every `.cu` in `srcs` with nvcc
(one action per file, host compiler = the C++ toolchain's compiler, `-Xcompiler -fPIC`,
C++17, SASS for sm_80 and sm_90 plus compute_90 PTX) and wraps the objects in a
cc_library so C++ targets depend on it like on any other library.

The include paths, defines and headers of `deps` are passed to nvcc, so `.cu` files
include project headers inside the sandbox. Under the default (CPU) build nothing is
compiled: the cc_library is empty, and C++ code guards its calls with SAL360_WITH_CUDA.

Under --config=cuda_emu the same `.cu` files are compiled by the host C++ compiler as
C++ (`-x c++`), with the emulated kernel language force-included (as nvcc force-includes
cuda_runtime.h) and linked against //nn/cuda/emu instead of the toolkit; SAL360_CUDA_EMU
is defined as well as SAL360_WITH_CUDA. nvcc-only `copts` are not passed to the host
compiler.

Floating-point contraction policy (one for the whole project): no fused multiply-add is
formed from separate `a * b + c` in our code, so that every SAL_HD body rounds the same
on the CPU, under nvcc and under the emulation. nvcc gets `-fmad=false` for every `.cu`
(NVCC_FP_FLAGS below); g++ gets `-ffp-contract=off` for every `.cc` and emulated `.cu`
(.bazelrc and EMU_COPTS). Libraries keep their own choices (OpenBLAS and cuBLAS use FMA
inside their GEMMs). See docs/architecture.md, "Floating point".
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

NVCC = "/usr/local/cuda/bin/nvcc"

# The contraction policy (see above), for every .cu nvcc compiles.
NVCC_FP_FLAGS = ["-fmad=false"]

CUDA_ARCH_FLAGS = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

# Host-compiler flags for a .cu file under the emulation.
EMU_COPTS = [
    "-x",
    "c++",
    "-include",
    "nn/cuda/emu/device.h",
    "-ffp-contract=off",
]

def cuda_enabled_setting(name):
    native.config_setting(
        name = name,
        define_values = {"sal360_cuda": "1"},
        visibility = ["//visibility:public"],
    )

def cuda_emu_setting(name):
    native.config_setting(
        name = name,
        define_values = {"sal360_cuda": "emu"},
        visibility = ["//visibility:public"],
    )

def _cuda_objects_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)
    cc_infos = [d[CcInfo] for d in ctx.attr.deps if CcInfo in d]
    comp = cc_common.merge_cc_infos(cc_infos = cc_infos).compilation_context

    include_flags = []
    for inc in comp.includes.to_list() + comp.quote_includes.to_list():
        include_flags += ["-I", inc]
    for inc in comp.system_includes.to_list():
        include_flags += ["-isystem", inc]
    include_flags += ["-I", "."]
    if ctx.bin_dir.path:
        include_flags += ["-I", ctx.bin_dir.path]
    define_flags = ["-D" + d for d in comp.defines.to_list() + ctx.attr.defines + ["SAL360_WITH_CUDA=1"]]

    inputs = depset(
        ctx.files.hdrs,
        transitive = [comp.headers, cc_toolchain.all_files],
    )
    objects = []
    for src in ctx.files.srcs:
        obj = ctx.actions.declare_file("_cuda_objs/%s/%s.o" % (ctx.label.name, src.basename[:-len(src.extension) - 1]))
        args = ctx.actions.args()
        args.add("-ccbin", cc_toolchain.compiler_executable)
        args.add_all(["-std=c++17", "-O3", "-Xcompiler", "-fPIC", "-lineinfo", "--expt-relaxed-constexpr"])
        args.add_all(CUDA_ARCH_FLAGS)
        args.add_all(NVCC_FP_FLAGS)
        args.add_all(include_flags)
        args.add_all(define_flags)
        args.add_all(ctx.attr.copts)
        args.add_all(["-c", src.path, "-o", obj.path])
        ctx.actions.run(
            executable = NVCC,
            arguments = [args],
            inputs = depset([src], transitive = [inputs]),
            outputs = [obj],
            mnemonic = "NvccCompile",
            progress_message = "nvcc %s" % src.short_path,
            use_default_shell_env = True,
        )
        objects.append(obj)
    return [DefaultInfo(files = depset(objects))]

_cuda_objects = rule(
    implementation = _cuda_objects_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".cu"]),
        "hdrs": attr.label_list(allow_files = [".h", ".cuh"]),
        "deps": attr.label_list(providers = [CcInfo]),
        "defines": attr.string_list(),
        "copts": attr.string_list(),
        "_cc_toolchain": attr.label(default = Label("@bazel_tools//tools/cpp:current_cc_toolchain")),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    fragments = ["cpp"],
)

def cuda_library(name, srcs, hdrs = [], deps = [], defines = [], copts = [], visibility = None, **kwargs):
    """A cc_library whose .cu sources are compiled by nvcc under --config=cuda, by the
    host compiler against the emulation under --config=cuda_emu, and not at all otherwise."""
    _cuda_objects(
        name = name + "_nvcc",
        srcs = srcs,
        hdrs = hdrs,
        deps = deps + ["@cuda//:headers"],
        defines = defines,
        copts = copts,
        tags = ["manual"],
    )
    native.cc_library(
        name = name,
        srcs = select({
            "//third_party:cuda_enabled": [":" + name + "_nvcc"],
            "//third_party:cuda_emu": srcs,
            "//conditions:default": [],
        }),
        hdrs = hdrs,
        copts = select({
            "//third_party:cuda_emu": EMU_COPTS,
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//third_party:cuda_enabled": ["@cuda//:cuda_runtime"],
            "//third_party:cuda_emu": ["//nn/cuda/emu"],
            "//conditions:default": [],
        }),
        defines = select({
            "//third_party:cuda_enabled": ["SAL360_WITH_CUDA=1"],
            "//third_party:cuda_emu": ["SAL360_WITH_CUDA=1", "SAL360_CUDA_EMU=1"],
            "//conditions:default": [],
        }),
        alwayslink = True,
        visibility = visibility,
        **kwargs
    )
