/* Image folders as datasets, as Keras's image_dataset_from_directory(labels="inferred") reads
 * them: one subfolder per class (see mcl_dataset_load_with in mnistcl.h for the whole rule). */
#ifndef MCL_DATA_FOLDER_H
#define MCL_DATA_FOLDER_H

#include <stdbool.h>

#include "mnistcl/mnistcl.h"

#define MCL_FOLDER_MAX_CLASSES 256u /* labels are bytes */
#define MCL_FOLDER_MAX_DEPTH 32u    /* folders nested inside a class folder */
#define MCL_FOLDER_DEFAULT_TEST_SPLIT 0.2f
#define MCL_FOLDER_DEFAULT_SIDE 28u

/* Whether dir has a subfolder (one not starting with '.'): then it is read as an image folder. */
bool mcl_folder_has_subfolder(const char *dir);

/* Lists dir's class folders and files, then decodes and resizes the files of one split (one
 * at a time, into the dataset's buffer). Fails with MCL_ERR_IO (a folder or file cannot be
 * read), MCL_ERR_FORMAT (an image that does not decode, an empty class, fewer than 2 or more
 * than 256 classes, splits whose classes differ, a count or size past idx.h's limits) or
 * MCL_ERR_USAGE (a test split outside (0, 1)), naming the folder or file. */
mcl_status mcl_folder_load(const char *dir, mcl_split split, const mcl_data_options *options,
                           mcl_dataset **out, mcl_error *err);

#endif
