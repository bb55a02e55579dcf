// A run stage's output files as a result carries them (src/api/result.ts: files,
// filesSkipped, filesIncomplete, filesError), from the facts a backend reported. Pure.
import { imageMimeType } from '../api/outputs.js';
import type { Stage } from '../api/result.js';
import type { StageReport } from '../backend/backend.js';

export type StageFiles = Required<Pick<Stage, 'files' | 'filesSkipped' | 'filesIncomplete' | 'filesError'>>;

/** The result fields of the output files in `report`; undefined when the stage had no outputs
 *  (the fields are then left out of the stage). */
export function stageFiles(report: StageReport): StageFiles | undefined {
  if (report.outputFiles === undefined && (report.outputFilesError === undefined || report.outputFilesError === null)) return undefined;
  const bundle = report.outputFiles;
  if (bundle === undefined) return { files: [], filesSkipped: [], filesIncomplete: true, filesError: report.outputFilesError ?? 'not read' };
  const files = bundle.files.map((f) => {
    const mimeType = imageMimeType(f.content);
    return { name: f.name, size: f.size, encoding: 'base64' as const, content: f.content.toString('base64'), truncated: f.truncated, ...(mimeType === undefined ? {} : { mimeType }) };
  });
  const incomplete = bundle.listingCut || files.some((f) => f.truncated) || bundle.skipped.some((s) => s.reason === 'total_limit' || s.reason === 'too_many_files' || s.reason === 'too_deep');
  return { files, filesSkipped: bundle.skipped.map((s) => ({ ...s })), filesIncomplete: incomplete, filesError: null };
}
