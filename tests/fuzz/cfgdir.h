/*
 * cfgdir.h - the config, rules and reference-CSV fuzz targets' shared part: a
 * scratch copy of the bundled config folder (deploy/examples) in which one
 * file is replaced by the fuzz input, then everything check-config builds
 * without Kafka is built from it.
 */
#ifndef CF_FUZZ_CFGDIR_H
#define CF_FUZZ_CFGDIR_H

#include <stddef.h>
#include <stdint.h>

/** Copy the bundled config folder to a fresh temporary folder (removed at exit). */
void cf_fuzz_dir_init(void);
/** Replace REL (a file of the copy, e.g. "rules.yaml") by data, load the copy's config,
 * its service sections and the stage chain (rules and reference data), then put REL
 * back. Aborts when a load fails without a message, or with one that is not valid
 * UTF-8 or is longer than its buffer. */
void cf_fuzz_dir_check(const char *rel, const uint8_t *data, size_t size);
/** Replace the first occurrence of from by to in REL of the copy (aborts when from is
 * absent: the bundled file changed and the caller's edit no longer applies). */
void cf_fuzz_dir_edit(const char *rel, const char *from, const char *to);
/** The copy's config file (its customsflow.yaml). */
const char *cf_fuzz_dir_config(void);

#endif
