/* placeholder until the first driver lands */
typedef int evt_hal_sim_empty;
