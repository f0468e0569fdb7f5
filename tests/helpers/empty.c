/* Keeps cf_testhelpers non-empty before any helper exists. */
int cf_testhelpers_empty_;
