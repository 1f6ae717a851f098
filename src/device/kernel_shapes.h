/* The shapes of mnist-cl's kernels (tile rows and columns, vector widths, chunk lengths), chosen
 * per device from its properties and given to the OpenCL compiler as -D options, the way
 * CLBlast specialises its kernels. Each kernel family has one table in kernel_shapes.c with a
 * row per device class; a .cl file only states which defines it expects (#error otherwise), and
 * the host reads the same numbers from mcl_kernel_shapes, so no shape is written twice. The
 * options are part of the program-cache key. `mnist-cl tune` can replace the GEMM and
 * convolution shapes with measured ones (kernel_tune.h). */
#ifndef MCL_DEVICE_KERNEL_SHAPES_H
#define MCL_DEVICE_KERNEL_SHAPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

/* What decides a fitting shape. CPU devices whose driver vectorises explicit vector types
 * (PoCL) are classed by their native float vector width: the tiles keep their accumulators in
 * vector registers, 32 of 16 floats with AVX-512, 16 of 8 with AVX2, 16 or 32 of 4 with SSE
 * or NEON. Devices that vectorise across work-items instead report a native width of 1 (GPUs,
 * and Mesa's llvmpipe, a CPU device) and get the work-group-parallel kernels (SIMT). */
typedef enum mcl_device_class {
    MCL_CLASS_CPU_16, /* AVX-512 */
    MCL_CLASS_CPU_8,  /* AVX, AVX2 */
    MCL_CLASS_CPU_4,  /* SSE, NEON */
    MCL_CLASS_SIMT,   /* GPUs; CPU drivers that vectorise across work-items */
    MCL_CLASS_COUNT
} mcl_device_class;

/* "AVX-512-class CPU" ... for messages and reports. */
const char *mcl_device_class_str(mcl_device_class c);
mcl_device_class mcl_device_class_of(const mcl_device_info *info);

/* cl/gemm.cl (the tiled SGEMM): one work-item keeps GEMM_TM rows x GEMM_NV vectors of GEMM_VW
 * floats of C in registers; K is walked in chunks of at most GEMM_KC (a longer K is split,
 * partial sums reduced in a fixed order: no work-item runs tens of thousands of iterations). */
typedef struct mcl_gemm_shape {
    uint32_t rows;    /* GEMM_TM */
    uint32_t vector;  /* GEMM_VW: 2, 4, 8 or 16 */
    uint32_t vectors; /* GEMM_NV: the tile is GEMM_VW * GEMM_NV columns wide */
    uint32_t k_chunk; /* GEMM_KC */
} mcl_gemm_shape;

/* cl/conv2d.cl, the register-tiled convolutions (CPU classes): CONV_TP positions x CONV_NV
 * vectors of CONV_VW filters (forward, filter gradient) or channels (input gradient); the
 * filter gradient tiles CONV_TC input channels and walks CONV_IMAGES images per work-item,
 * partial sums reduced in a fixed order. */
typedef struct mcl_conv_tiled_shape {
    uint32_t positions; /* CONV_TP */
    uint32_t vector;    /* CONV_VW */
    uint32_t vectors;   /* CONV_NV */
    uint32_t channels;  /* CONV_TC: input channels per filter-gradient tile (CONV_VW or less) */
    uint32_t images;    /* CONV_IMAGES: images per filter-gradient chunk */
} mcl_conv_tiled_shape;

/* cl/conv2d.cl, the direct convolutions (SIMT class): CONV_DW filters or channels per
 * work-item, CONV_RW output pixels each (forward, input gradient), CONV_RC channels for the
 * filter gradient. */
typedef struct mcl_conv_direct_shape {
    uint32_t width;    /* CONV_DW: 2, 4, 8 or 16 */
    uint32_t pixels;   /* CONV_RW */
    uint32_t channels; /* CONV_RC */
    uint32_t images;   /* images per filter-gradient chunk (host side only) */
} mcl_conv_direct_shape;

/* The streaming kernels (elementwise work, the optimizer, the batch gather, dropout, pooling,
 * and column sums over [rows, C] activations: BatchNorm, bias gradients): VEC_W floats per
 * work-item as one vector, column sums over chunks of VEC_ROWS rows. */
typedef struct mcl_vector_shape {
    uint32_t width; /* VEC_W: 4, 8 or 16 */
    uint32_t rows;  /* VEC_ROWS */
    /* VEC_GROUP1: the kernels declare work-groups of one work-item (VEC_KERNEL in common.cl)
     * and are launched so (mcl_enqueue_vector); else the driver picks. */
    bool group1;
    uint32_t span; /* VEC_SPAN: vectors per work-item in the elementwise kernels */
} mcl_vector_shape;

typedef struct mcl_kernel_shapes {
    mcl_device_class device_class;
    mcl_gemm_shape gemm;
    mcl_conv_tiled_shape conv_tiled;
    mcl_conv_direct_shape conv_direct;
    mcl_vector_shape vector;
} mcl_kernel_shapes;

/* The table rows for the device's class, and for a class by itself (the offline compile test
 * builds every class's kernels). */
mcl_kernel_shapes mcl_kernel_shapes_for(const mcl_device_info *info);
mcl_kernel_shapes mcl_kernel_shapes_of_class(mcl_device_class c);

/* Whether the values are ones the kernels accept (a tuning file may hold anything). */
bool mcl_kernel_shapes_valid(const mcl_kernel_shapes *s);

/* The -D options for every family ("-DGEMM_TM=8 -DGEMM_VW=16 ..."); false if `size` is short. */
bool mcl_kernel_shapes_defines(const mcl_kernel_shapes *s, char *out, size_t size);

/* One line for reports: "GEMM 8x32 (float16 x2, K chunks of 4096), conv 8x32 ...". */
void mcl_kernel_shapes_describe(const mcl_kernel_shapes *s, char *out, size_t size);

#endif
