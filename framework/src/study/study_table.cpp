#include "study/study_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "analysis/format.hpp"
#include "analysis/json.hpp"
#include "gradlab/error.hpp"

namespace gradlab::study {

namespace {

/// The last part of a key path, with the part before it when it is a list index: "model.layers.0.repeat" ->
/// "repeat", "model.layers.0.layers.1" -> "layers.1".
std::string shortKey(const std::string& key) {
    std::size_t dot = key.rfind('.');
    if (dot == std::string::npos) return key;
    const std::string last = key.substr(dot + 1);
    if (!last.empty() && last.find_first_not_of("0123456789") == std::string::npos && dot > 0) {
        const std::size_t before = key.rfind('.', dot - 1);
        dot = before == std::string::npos ? std::string::npos : before;
        return dot == std::string::npos ? key : key.substr(dot + 1);
    }
    return last;
}

/// The heading of each swept key: its short name where unique among the keys, else the full path.
std::vector<std::string> keyHeadings(const std::vector<std::string>& keys) {
    std::vector<std::string> headings;
    for (const std::string& key : keys) {
        const std::string name = shortKey(key);
        const auto same = std::count_if(keys.begin(), keys.end(), [&](const std::string& k) { return shortKey(k) == name; });
        headings.push_back(same == 1 ? name : key);
    }
    return headings;
}

std::string number(double value) { return std::isnan(value) ? "-" : analysis::general(value, 3); }

std::string ratio(double value) { return std::isnan(value) ? "-" : analysis::scientific(value); }

bool anyFinite(const StudyIndex& index, double analysis::RunMetrics::*field) {
    for (const StudyRow& row : index.rows)
        if (!std::isnan(row.metrics.*field)) return true;
    return false;
}

/// A text column: heading, and the cell of a row.
struct Column {
    std::string heading;
    std::function<std::string(const StudyRow&)> cell;
};

}  // namespace

StudyIndex sortedStudy(const StudyIndex& index, const std::string& key) {
    StudyIndex sorted = index;
    if (key.empty()) return sorted;
    // A metric column, an integer or string column, or a swept key.
    for (const MetricColumn& column : metricColumns())
        if (key == column.name) {
            std::stable_sort(sorted.rows.begin(), sorted.rows.end(), [&](const StudyRow& a, const StudyRow& b) {
                const double x = a.metrics.*column.field, y = b.metrics.*column.field;
                if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
                return x < y;
            });
            return sorted;
        }
    auto byText = [&](std::function<std::string(const StudyRow&)> text) {
        std::stable_sort(sorted.rows.begin(), sorted.rows.end(),
                         [&](const StudyRow& a, const StudyRow& b) { return text(a) < text(b); });
    };
    if (key == "index") return sorted;
    if (key == "name" || key == "status" || key == "verdict") {
        byText([&](const StudyRow& row) {
            return key == "name" ? row.name : key == "status" ? std::string(toString(row.status)) : row.verdict;
        });
        return sorted;
    }
    if (key == "final_loss" || key == "diverged_at" || key == "seed") {
        std::stable_sort(sorted.rows.begin(), sorted.rows.end(), [&](const StudyRow& a, const StudyRow& b) {
            if (key == "seed") return a.seed < b.seed;
            if (key == "diverged_at") return a.divergedAt < b.divergedAt;
            if (std::isnan(a.finalLoss) || std::isnan(b.finalLoss)) return !std::isnan(a.finalLoss) && std::isnan(b.finalLoss);
            return a.finalLoss < b.finalLoss;
        });
        return sorted;
    }
    std::vector<std::size_t> matches;
    for (std::size_t k = 0; k < index.keys.size(); ++k)
        if (index.keys[k] == key) matches = {k};
    if (matches.empty())
        for (std::size_t k = 0; k < index.keys.size(); ++k)
            if (shortKey(index.keys[k]) == key) matches.push_back(k);
    if (matches.size() != 1) {
        std::string known = "name, status, verdict, index, seed, final_loss, diverged_at";
        for (const MetricColumn& column : metricColumns()) known += std::string(", ") + column.name;
        for (const std::string& swept : index.keys) known += ", " + swept;
        throw Error("--sort " + key + ": " + (matches.empty() ? "no such column" : "ambiguous: give the full key") +
                    " (columns: " + known + ")");
    }
    const std::size_t k = matches.front();
    // Swept values are YAML text: numbers compare as numbers, the rest as text.
    std::stable_sort(sorted.rows.begin(), sorted.rows.end(), [&](const StudyRow& a, const StudyRow& b) {
        char* endA = nullptr;
        char* endB = nullptr;
        const double x = std::strtod(a.parameters[k].c_str(), &endA), y = std::strtod(b.parameters[k].c_str(), &endB);
        const bool numbers = !a.parameters[k].empty() && !b.parameters[k].empty() && *endA == '\0' && *endB == '\0';
        return numbers ? x < y : a.parameters[k] < b.parameters[k];
    });
    return sorted;
}

std::string formatStudyText(const std::string& path, const StudyIndex& index) {
    std::vector<Column> columns;
    const std::vector<std::string> headings = keyHeadings(index.keys);
    for (std::size_t k = 0; k < index.keys.size(); ++k)
        columns.push_back({headings[k], [k](const StudyRow& row) { return row.parameters[k]; }});
    columns.push_back({"status", [](const StudyRow& row) { return std::string(toString(row.status)); }});
    columns.push_back({"verdict", [](const StudyRow& row) { return row.verdict; }});
    using analysis::RunMetrics;
    const std::vector<std::pair<const char*, double RunMetrics::*>> numbers = {
        {"eval_loss", &RunMetrics::finalEvalLoss},      {"best_eval", &RunMetrics::bestEvalLoss},
        {"eval_acc", &RunMetrics::finalEvalAccuracy},   {"test_acc", &RunMetrics::testAccuracy}};
    for (const auto& [heading, field] : numbers)
        if (anyFinite(index, field)) columns.push_back({heading, [field = field](const StudyRow& row) { return number(row.metrics.*field); }});
    const std::vector<std::pair<const char*, double RunMetrics::*>> ratios = {
        {"signal_init", &RunMetrics::signalRatioInit},     {"signal_final", &RunMetrics::signalRatioFinal},
        {"timestep_init", &RunMetrics::timestepRatioInit}, {"timestep_final", &RunMetrics::timestepRatioFinal}};
    for (const auto& [heading, field] : ratios)
        if (anyFinite(index, field)) columns.push_back({heading, [field = field](const StudyRow& row) { return ratio(row.metrics.*field); }});
    if (std::any_of(index.rows.begin(), index.rows.end(), [](const StudyRow& row) { return row.divergedAt >= 0; }))
        columns.push_back({"diverged_at", [](const StudyRow& row) {
                               return row.divergedAt >= 0 ? std::to_string(row.divergedAt) : std::string("-");
                           }});

    std::vector<std::size_t> widths;
    for (const Column& column : columns) {
        std::size_t width = column.heading.size();
        for (const StudyRow& row : index.rows) width = std::max(width, column.cell(row).size());
        widths.push_back(width);
    }
    std::ostringstream out;
    std::size_t finished = 0;
    for (const StudyRow& row : index.rows) finished += isFinishedStatus(row.status) ? 1 : 0;
    out << "gradlab study " << path << "\n  config      " << index.configFile << "\n  runs        "
        << index.rows.size() << " (" << finished << " finished)";
    if (index.shardCount > 0)
        out << ", shard " << index.shard().label() << " of a study of " << index.studyRuns() << " runs";
    out << "\n  swept       ";
    for (std::size_t k = 0; k < index.keys.size(); ++k) out << (k ? ", " : "") << index.keys[k];
    out << "\n  ratios      first over last layer (signal) or timestep, at the first and the last traced step\n\n";
    auto line = [&](const std::function<std::string(std::size_t)>& cellOf) {
        for (std::size_t c = 0; c < columns.size(); ++c) {
            const std::string cell = cellOf(c);
            out << cell;
            if (c + 1 < columns.size()) out << std::string(widths[c] - cell.size() + 2, ' ');
        }
        out << "\n";
    };
    line([&](std::size_t c) { return columns[c].heading; });
    for (const StudyRow& row : index.rows) line([&](std::size_t c) { return columns[c].cell(row); });
    return out.str();
}

std::string formatStudyJson(const std::string& path, const StudyIndex& index) {
    using analysis::jsonNumber;
    using analysis::jsonString;
    std::ostringstream out;
    out << "{\n  \"file\": " << jsonString(path) << ",\n  \"config_file\": " << jsonString(index.configFile)
        << ",\n  \"swept_keys\": [";
    for (std::size_t k = 0; k < index.keys.size(); ++k) out << (k ? ", " : "") << jsonString(index.keys[k]);
    out << "],\n  \"runs\": [";
    for (std::size_t r = 0; r < index.rows.size(); ++r) {
        const StudyRow& row = index.rows[r];
        out << (r ? ",\n    " : "\n    ") << "{\"name\": " << jsonString(row.name) << ", \"index\": " << row.index
            << ", \"parameters\": {";
        for (std::size_t k = 0; k < index.keys.size(); ++k)
            out << (k ? ", " : "") << jsonString(index.keys[k]) << ": " << jsonString(row.parameters[k]);
        out << "}, \"seed\": " << row.seed << ", \"status\": " << jsonString(toString(row.status))
            << ", \"verdict\": " << jsonString(row.verdict) << ", \"message\": " << jsonString(row.message)
            << ", \"trace\": " << jsonString(row.trace) << ", \"final_loss\": " << jsonNumber(row.finalLoss)
            << ", \"diverged_at\": " << row.divergedAt;
        for (const MetricColumn& column : metricColumns())
            out << ", \"" << column.name << "\": " << jsonNumber(row.metrics.*column.field);
        out << "}";
    }
    out << (index.rows.empty() ? "]\n}\n" : "\n  ]\n}\n");
    return out.str();
}

}  // namespace gradlab::study
