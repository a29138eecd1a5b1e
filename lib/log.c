/* Registration of dplb's log type (see log.h). */
#include "log.h"

RTE_LOG_REGISTER(dplb_logtype, dplb, INFO);
