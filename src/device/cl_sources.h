/* The OpenCL sources embedded at build time by tools/embed_cl.py (see cl/meson.build). */
#ifndef MCL_DEVICE_CL_SOURCES_H
#define MCL_DEVICE_CL_SOURCES_H

typedef struct mcl_cl_source {
    const char *name; /* "dense.cl" */
    const char *text; /* starts with a #line directive naming cl/<name> */
} mcl_cl_source;

extern const mcl_cl_source mcl_cl_sources[];
extern const unsigned mcl_cl_source_count;

#endif
