/* keeps the support library non-empty before helpers land */
typedef int evt_test_support_empty;
