// The OpenCV.js loader lives in util/ (charts use it too, without depending on vision/); re-exported for vision/.
export { CV, loadOpenCV } from '../util/opencv';
