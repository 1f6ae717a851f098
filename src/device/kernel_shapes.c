/* The kernel shape tables (see kernel_shapes.h). Each row is justified by the registers of its
 * class: a tile's accumulators plus the operands of one step must fit in the vector register
 * file, or the compiler spills them to the stack (measured on PoCL: a spilled tile runs at a
 * third of the speed). */
#include "device/kernel_shapes.h"

#include <stdio.h>

const char *mcl_device_class_str(mcl_device_class c) {
    switch (c) {
    case MCL_CLASS_CPU_16:
        return "16-wide vector CPU (AVX-512 class)";
    case MCL_CLASS_CPU_8:
        return "8-wide vector CPU (AVX2 class)";
    case MCL_CLASS_CPU_4:
        return "4-wide vector CPU (SSE/NEON class)";
    default:
        return "SIMT (GPU class)";
    }
}

mcl_device_class mcl_device_class_of(const mcl_device_info *info) {
    uint32_t w = info->native_vector_width_float;
    if (info->type == MCL_DEVICE_GPU || w <= 1) return MCL_CLASS_SIMT;
    if (w >= 16) return MCL_CLASS_CPU_16;
    if (w >= 8) return MCL_CLASS_CPU_8;
    return MCL_CLASS_CPU_4;
}

/* GEMM tiles. AVX-512: 8 rows x 2 float16 = 16 of the 32 zmm registers for C, two for the row of
 * B, one broadcast of A (150-200 GFLOP/s on the MLPs' products on 2 cores). AVX2 and SSE have
 * 16 registers: 6 x 2 vectors = 12 for C, the classic 6x16 AVX2 micro-kernel shape. The SIMT
 * row serves MNIST_CL_GEMM=tiled on a GPU (CLBlast is its default). K chunks of 4096 keep every
 * work-item's loop short where K is long (a weight gradient over a whole batch of positions):
 * llvmpipe silently stops loops after some tens of thousands of iterations. */
static const mcl_gemm_shape gemm_table[MCL_CLASS_COUNT] = {
    [MCL_CLASS_CPU_16] = {.rows = 8, .vector = 16, .vectors = 2, .k_chunk = 4096},
    [MCL_CLASS_CPU_8] = {.rows = 6, .vector = 8, .vectors = 2, .k_chunk = 4096},
    [MCL_CLASS_CPU_4] = {.rows = 6, .vector = 4, .vectors = 2, .k_chunk = 4096},
    [MCL_CLASS_SIMT] = {.rows = 4, .vector = 4, .vectors = 1, .k_chunk = 4096},
};

/* Convolution tiles, the same register budget as the GEMM's. The filter gradient holds
 * CONV_TC x CONV_NV accumulators (8 x 2 of 32 registers with AVX-512, 4 x 2 of 16 with AVX2)
 * and walks CONV_IMAGES images: 8 images of the tutorial CNN's second layer (x and dz, 1.3 MB)
 * stay in a core's L2 while every tile of the layer reads them. */
static const mcl_conv_tiled_shape conv_tiled_table[MCL_CLASS_COUNT] = {
    [MCL_CLASS_CPU_16] = {.positions = 8, .vector = 16, .vectors = 2, .channels = 8, .images = 8},
    [MCL_CLASS_CPU_8] = {.positions = 6, .vector = 8, .vectors = 2, .channels = 4, .images = 8},
    [MCL_CLASS_CPU_4] = {.positions = 6, .vector = 4, .vectors = 2, .channels = 4, .images = 8},
    [MCL_CLASS_SIMT] = {.positions = 4, .vector = 4, .vectors = 1, .channels = 4, .images = 8},
};

/* Direct convolutions: 16 filters in one vector (registers on a GPU, lanes on a CPU) and 4
 * pixels per work-item on a GPU; on CPU devices (MNIST_CL_GEMM=clblast) one native vector. */
static const mcl_conv_direct_shape conv_direct_table[MCL_CLASS_COUNT] = {
    [MCL_CLASS_CPU_16] = {.width = 16, .pixels = 4, .channels = 8, .images = 8},
    [MCL_CLASS_CPU_8] = {.width = 8, .pixels = 4, .channels = 8, .images = 8},
    [MCL_CLASS_CPU_4] = {.width = 4, .pixels = 4, .channels = 8, .images = 8},
    [MCL_CLASS_SIMT] = {.width = 16, .pixels = 4, .channels = 8, .images = 8},
};

/* Streaming kernels: one native vector per work-item on CPUs, where PoCL otherwise leaves them
 * scalar, in work-groups of one as the tiled kernels (PoCL then has no work-item loop to build
 * around the vector code) that each stream 16 vectors (a work-group costs tens of nanoseconds to
 * start: the batch gather took 35 us per step at one vector each); four floats (one 16-byte load)
 * per work-item on SIMT devices, so neighbouring work-items read neighbouring memory, in
 * work-groups the driver picks. Column sums over 64-row chunks: short loops, and enough chunks for
 * every core. */
static const mcl_vector_shape vector_table[MCL_CLASS_COUNT] = {
    [MCL_CLASS_CPU_16] = {.width = 16, .rows = 64, .group1 = true, .span = 16},
    [MCL_CLASS_CPU_8] = {.width = 8, .rows = 64, .group1 = true, .span = 16},
    [MCL_CLASS_CPU_4] = {.width = 4, .rows = 64, .group1 = true, .span = 16},
    [MCL_CLASS_SIMT] = {.width = 4, .rows = 64, .group1 = false, .span = 1},
};

mcl_kernel_shapes mcl_kernel_shapes_for(const mcl_device_info *info) {
    return mcl_kernel_shapes_of_class(mcl_device_class_of(info));
}

mcl_kernel_shapes mcl_kernel_shapes_of_class(mcl_device_class c) {
    if ((unsigned)c >= MCL_CLASS_COUNT) c = MCL_CLASS_SIMT;
    return (mcl_kernel_shapes){.device_class = c,
                               .gemm = gemm_table[c],
                               .conv_tiled = conv_tiled_table[c],
                               .conv_direct = conv_direct_table[c],
                               .vector = vector_table[c]};
}

/* An OpenCL vector width: vloadN exists for these. */
static bool vector_width_ok(uint32_t w) {
    return w == 2 || w == 4 || w == 8 || w == 16;
}

bool mcl_kernel_shapes_valid(const mcl_kernel_shapes *s) {
    const mcl_gemm_shape *g = &s->gemm;
    const mcl_conv_tiled_shape *t = &s->conv_tiled;
    const mcl_conv_direct_shape *d = &s->conv_direct;
    return s->device_class < MCL_CLASS_COUNT && g->rows >= 1 && g->rows <= 16 &&
           vector_width_ok(g->vector) && g->vectors >= 1 && g->vectors <= 4 &&
           g->k_chunk >= 64 && g->k_chunk <= 65536 && t->positions >= 1 && t->positions <= 16 &&
           vector_width_ok(t->vector) && t->vectors >= 1 && t->vectors <= 4 &&
           (t->channels == 1 || vector_width_ok(t->channels)) && t->channels <= 16 &&
           t->images >= 1 && t->images <= 4096 && vector_width_ok(d->width) && d->pixels >= 1 &&
           d->pixels <= 16 && d->channels >= 1 && d->channels <= 16 && d->images >= 1 &&
           d->images <= 4096 &&
           s->vector.width >= 4 && vector_width_ok(s->vector.width) && s->vector.rows >= 1 &&
           s->vector.rows <= 4096 && s->vector.span >= 1 && s->vector.span <= 256;
}

bool mcl_kernel_shapes_defines(const mcl_kernel_shapes *s, char *out, size_t size) {
    int n = snprintf(out, size,
                     "-DGEMM_TM=%u -DGEMM_VW=%u -DGEMM_NV=%u -DGEMM_KC=%u "
                     "-DCONV_TP=%u -DCONV_VW=%u -DCONV_NV=%u -DCONV_TC=%u "
                     "-DCONV_DW=%u -DCONV_RW=%u -DCONV_RC=%u -DVEC_W=%u -DVEC_ROWS=%u "
                     "-DVEC_GROUP1=%d -DVEC_SPAN=%u",
                     s->gemm.rows, s->gemm.vector, s->gemm.vectors, s->gemm.k_chunk,
                     s->conv_tiled.positions, s->conv_tiled.vector, s->conv_tiled.vectors,
                     s->conv_tiled.channels, s->conv_direct.width, s->conv_direct.pixels,
                     s->conv_direct.channels, s->vector.width, s->vector.rows,
                     s->vector.group1 ? 1 : 0, s->vector.span);
    return n > 0 && (size_t)n < size;
}

void mcl_kernel_shapes_describe(const mcl_kernel_shapes *s, char *out, size_t size) {
    const mcl_gemm_shape *g = &s->gemm;
    const mcl_conv_tiled_shape *t = &s->conv_tiled;
    snprintf(out, size,
             "%s: GEMM tile %ux%u (float%u x%u), conv tile %ux%u (float%u x%u, dW %u channels "
             "x %u images), direct conv float%u x %u pixels, streaming float%u",
             mcl_device_class_str(s->device_class), g->rows, g->vector * g->vectors, g->vector,
             g->vectors, t->positions, t->vector * t->vectors, t->vector, t->vectors, t->channels,
             t->images, s->conv_direct.width, s->conv_direct.pixels, s->vector.width);
}
