/* The bias and activation epilogues of dense and conv2d over an [n, out] output (a conv's
 * [N, OH, OW, F] output is an [N*OH*OW, F] matrix), after their SGEMM: cl/dense.cl's kernels. */
#include "device/gemm.h"
#include "ops/op.h"

mcl_status mcl_gemm_bias_act(const mcl_exec *ex, cl_kernel bias_kernel, cl_uint n, cl_uint out,
                             cl_uint k, mcl_matrix a, mcl_matrix w, cl_mem y, cl_int act,
                             cl_uint bias_offset, const char *what, mcl_error *err) {
    mcl_matrix c = {y, 0, out, false};
    if (mcl_gemm_fuses_epilogue(ex->ctx)) {
        mcl_gemm_epilogue epi = {ex->params, bias_offset, act == 1};
        return mcl_gemm_with_epilogue(ex->ctx, n, out, k, 1.0f, a, w, 0.0f, c, &epi, what, err);
    }
    mcl_status st = mcl_gemm(ex->ctx, n, out, k, 1.0f, a, w, 0.0f, c, what, err);
    return st != MCL_OK ? st : mcl_bias_act_forward(ex, bias_kernel, y, n, out, act, bias_offset, err);
}

mcl_status mcl_bias_act_forward(const mcl_exec *ex, cl_kernel kernel, cl_mem y, cl_uint n,
                                cl_uint out, cl_int act, cl_uint bias_offset, mcl_error *err) {
    mcl_status st = MCL_SET_ARGS(kernel, err, MCL_ARG(y), MCL_ARG(ex->params), MCL_ARG(bias_offset),
                                 MCL_ARG(out), MCL_ARG(act));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, kernel, 2, (size_t[]){out, n}, err);
}

mcl_status mcl_bias_act_backward(const mcl_exec *ex, cl_kernel partial, cl_kernel finish, cl_mem dy,
                                 cl_mem y, cl_uint n, cl_uint out, cl_int act, cl_uint bias_offset,
                                 mcl_error *err) {
    if (n == 0 || out == 0) return MCL_OK;
    const mcl_vector_shape *v = &ex->ctx->shapes.vector;
    /* A few chunks' worth of rows (a dense layer's batch) is summed in one pass straight into
     * the gradient; a conv layer's N*OH*OW rows go through partial sums in scratch. */
    bool direct = n <= 4 * v->rows;
    cl_uint rows = direct ? n : v->rows, chunks = (n + rows - 1) / rows;
    cl_mem sums = ex->grads;
    mcl_status st = direct ? MCL_OK : mcl_scratch_reserve(ex->ctx, (size_t)chunks * out, &sums, err);
    cl_uint sums_offset = direct ? bias_offset : 0;
    cl_int accumulate = direct;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(partial, err, MCL_ARG(dy), MCL_ARG(y), MCL_ARG(n), MCL_ARG(out),
                          MCL_ARG(rows), MCL_ARG(act), MCL_ARG(sums), MCL_ARG(sums_offset),
                          MCL_ARG(accumulate));
    size_t columns = (out + v->width - 1) / v->width;
    if (st == MCL_OK)
        st = mcl_enqueue_vector(ex->ctx, partial, 2, (size_t[]){columns, chunks}, NULL, err);
    if (st != MCL_OK || direct) return st;
    st = MCL_SET_ARGS(finish, err, MCL_ARG(sums), MCL_ARG(chunks), MCL_ARG(out),
                          MCL_ARG(ex->grads), MCL_ARG(bias_offset));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, finish, 1, (size_t[]){out}, err);
}
