#include "study/trace_check.hpp"

#include "trace/hdf5_handle.hpp"
#include "trace/trace_reader.hpp"

namespace gradlab::study {

void checkTraceReadable(const std::string& tracePath) {
    const trace::TraceReader reader(tracePath);
    reader.stringAttribute("status");
    const std::string where = "trace '" + tracePath + "'";
    const trace::Hdf5Handle file = trace::openHdf5ReadOnly(tracePath);
    for (const std::string& dataset : trace::hdf5AllDatasets(file.get(), where))
        trace::hdf5CheckDatasetReads(file.get(), dataset, true, where);
}

}  // namespace gradlab::study
