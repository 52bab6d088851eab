// OpenCV.js (official build, pinned in package.json). Its module object is thenable but resolving it can
// hang, so we wait on onRuntimeInitialized instead of awaiting it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CV = any;

let loading: Promise<CV> | undefined;

export function loadOpenCV(): Promise<CV> {
  if (!loading) {
    loading = new Promise<CV>((resolve, reject) => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const cv = require('@techstark/opencv-js');
      if (cv.Mat) {
        resolve(stripThen(cv));
        return;
      }
      const timer = setTimeout(() => reject(new Error('OpenCV.js did not initialise within 30 s')), 30000);
      cv.onRuntimeInitialized = () => {
        clearTimeout(timer);
        resolve(stripThen(cv));
      };
    });
  }
  return loading;
}

// Returning a thenable from a Promise makes the promise adopt it; remove `then` so we get the module itself.
function stripThen(cv: CV): CV {
  if (typeof cv.then === 'function') delete cv.then;
  return cv;
}
