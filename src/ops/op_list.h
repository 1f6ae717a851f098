/* The op list: every op family, one line each. Everything that names the ops is made from it:
 * the mcl_op_kind enum and the `extern const mcl_op mcl_op_<name>` declarations (op.h), the
 * registry table (registry.c), the ONNX emitter index (src/store/export.c), and the build's
 * lists of src/ops/<name>.c and cl/<name>.cl (the top meson.build reads this file).
 *
 * To add an op `foo`: write src/ops/foo.c, which defines `const mcl_op mcl_op_foo`, and, if it
 * has kernels, cl/foo.cl; then add the line X(FOO, foo, NULL) below (NULL: no ONNX emitter
 * yet, so export refuses models that use it; name an emitter written in src/store/export.c to
 * export it). Write the files before the line: the build looks for cl/foo.cl when the line
 * appears. The op tests run every op's examples without being told.
 *
 * Columns: the enum suffix (MCL_OP_FOO), the name (file stem and variable suffix), the ONNX
 * emitter. The order is the enum's; the kernel files are embedded in it. */
#ifndef MCL_OPS_OP_LIST_H
#define MCL_OPS_OP_LIST_H

#define MCL_OP_LIST(X)                                                                             \
    X(FLATTEN, flatten, emit_flatten)                                                              \
    X(DENSE, dense, emit_dense)                                                                    \
    X(RELU, relu, emit_relu)                                                                       \
    X(DROPOUT, dropout, emit_dropout)                                                              \
    X(SOFTMAX_XENT, softmax_xent, emit_softmax) /* internal: the training graph's loss head */     \
    X(CONV2D, conv2d, emit_conv2d)                                                                 \
    X(MAXPOOL, maxpool, emit_maxpool)                                                              \
    X(BATCHNORM, batchnorm, emit_batchnorm)                                                        \
    X(LEAKYRELU, leakyrelu, emit_leakyrelu)                                                        \
    X(ZEROPAD, zeropad, emit_zeropad)                                                              \
    X(GLOBALAVGPOOL, globalavgpool, emit_globalavgpool)                                            \
    X(SOFTMAX, softmax, emit_softmax) /* standalone softmax: the inference head */

#endif
