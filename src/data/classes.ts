/** FER2013 label order; every tensor, manifest and score table in the project uses it. */
export const CLASS_NAMES = ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral'] as const;
export type ClassName = (typeof CLASS_NAMES)[number];
export const NUM_CLASSES = CLASS_NAMES.length;
/** FER2013 faces are 48×48 grey. */
export const IMAGE_SIZE = 48;
