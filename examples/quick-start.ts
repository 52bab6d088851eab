import { createPredictor, predictFiles, processVideo } from 'fer';

async function main(): Promise<void> {
  const predictor = await createPredictor();               // shipped models, BlazeFace, fastest backend
  for await (const photo of predictFiles(['photo.jpg'], predictor)) {
    for (const { box, label, scores } of photo.faces) {
      console.log(`${photo.file}: ${label} ${(100 * scores[label]).toFixed(0)}% at x=${box.x} y=${box.y} w=${box.w}`);
    }
  }
  predictor.dispose();
  const video = await processVideo({ input: 'in.mp4', output: 'out.mp4', csv: 'faces.csv' });
  for (const t of video.tracks) console.log(`#${t.trackId} ${t.dominant} for ${t.seconds.toFixed(1)} s`);
}

main().catch((err: unknown) => { console.error(String(err)); process.exitCode = 1; });
