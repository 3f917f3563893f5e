// nsl_dist: distributed training for fine-grained image retrieval (DGCRL + N-S layer).
#include <cstdio>
#include <exception>

#include "common/allocator.h"
#include "common/error.h"
#include "launch/commands.h"
#include "launch/job_context.h"

namespace {

int report(nsl::JobContext& job, int code, const char* kind, const char* what) {
  nsl::Communicator* comm = job.comm();
  if (comm) {
    std::fprintf(stderr, "nsl_dist [rank %d/%d] %s: %s\n", comm->rank(), comm->size(), kind, what);
  } else {
    std::fprintf(stderr, "nsl_dist %s: %s\n", kind, what);
  }
  std::fflush(stderr);
  // One failing rank must end the whole job: the others would wait forever in a collective.
  if (comm && comm->size() > 1) comm->abort(code);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  nsl::keep_freed_memory();
  CLI::App app{"nsl_dist: distributed DGCRL trainer for fine-grained image retrieval"};
  app.require_subcommand(1);
  nsl::TrainArgs train;
  nsl::InfoArgs info;
  nsl::SynthArgs synth;
  nsl::PrepArgs prep;
  nsl::EvalArgs eval;
  nsl::ReportArgs report_args;
  nsl::EmbedArgs embed;
  nsl::QueryArgs query;
  nsl::ExportArgs export_args;
  nsl::add_train_command(app, train);
  nsl::add_info_command(app, info);
  nsl::add_synth_command(app, synth);
  nsl::add_prep_command(app, prep);
  nsl::add_eval_command(app, eval);
  nsl::add_report_command(app, report_args);
  nsl::add_embed_command(app, embed);
  nsl::add_query_command(app, query);
  nsl::add_export_command(app, export_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : nsl::kExitConfig;
  }
  nsl::JobContext job;  // outlives the handler below
  try {
    if (app.got_subcommand("train")) return nsl::run_train(train, job);
    if (app.got_subcommand("info")) return nsl::run_info(info);
    if (app.got_subcommand("synth")) return nsl::run_synth(synth);
    if (app.got_subcommand("prep")) return nsl::run_prep(prep);
    if (app.got_subcommand("eval")) return nsl::run_eval(eval, job);
    if (app.got_subcommand("report")) return nsl::run_report(report_args);
    if (app.got_subcommand("embed")) return nsl::run_embed(embed, job);
    if (app.got_subcommand("query")) return nsl::run_query(query);
    if (app.got_subcommand("export")) return nsl::run_export(export_args);
  } catch (const nsl::StoppedTogether& e) {
    // Every rank got here together (after the checkpoint, when preempted): a clean exit, not an
    // abort.
    nsl::Communicator* comm = job.comm();
    if (comm == nullptr || comm->is_root()) {
      std::fprintf(stderr, "nsl_dist: %s\n", e.what());
      std::fflush(stderr);
    }
    return e.code();
  } catch (const nsl::ConfigError& e) {
    return report(job, e.code(), "config error", e.what());
  } catch (const nsl::DataError& e) {
    return report(job, e.code(), "data error", e.what());
  } catch (const nsl::Error& e) {
    return report(job, e.code(), "error", e.what());
  } catch (const std::exception& e) {
    return report(job, nsl::kExitRuntime, "internal error", e.what());
  }
  return nsl::kExitConfig;
}
