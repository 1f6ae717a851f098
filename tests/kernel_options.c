/* Prints, for every device class of src/device/kernel_shapes.c, one line: the class's index,
 * a tab, and the build options its devices compile mnist-cl's kernels with. The offline compile
 * test (offline_compile.py) builds the kernels once per line, for the targets of that class.
 * It fails (and so does that test) when a class's row of the table is not a shape the kernels
 * accept, or its options do not fit. */
#include <stdio.h>

#include "device/program.h"

int main(void) {
    for (int c = 0; c < MCL_CLASS_COUNT; c++) {
        mcl_kernel_shapes s = mcl_kernel_shapes_of_class((mcl_device_class)c);
        if (!mcl_kernel_shapes_valid(&s)) {
            fprintf(stderr, "kernel_options: class %d: the shape table's row is not valid\n", c);
            return 1;
        }
        char options[1024];
        if (!mcl_program_options(&s, options, sizeof options)) {
            fprintf(stderr, "kernel_options: class %d: the build options do not fit\n", c);
            return 1;
        }
        printf("%d\t%s\n", c, options);
    }
    return 0;
}
